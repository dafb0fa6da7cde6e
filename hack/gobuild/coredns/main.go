// CoreDNS with only the plugins a local Phoenix cluster uses: cluster DNS (the kubernetes plugin) on the pod
// network's gateway address, nothing forwarded (pods must not reach the machine's resolvers). This is CoreDNS's
// documented way to build a subset of its plugins: import them and set dnsserver.Directives in plugin order.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order of CoreDNS's plugin.cfg for the plugins imported above (the chain runs in this order).
var directives = []string{"bind", "ready", "errors", "log", "cache", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
