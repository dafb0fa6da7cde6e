// Command etcd is etcd's own server entry point (go.etcd.io/etcd/server/v3's main.go), built here
// from the published Go module because this machine reaches the Go module proxy but no release
// downloads. The server module's go.mod points its sibling modules at ../api etc.; go.mod here
// replaces them with the published versions instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
