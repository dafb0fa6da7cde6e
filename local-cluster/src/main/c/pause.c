/*
 * The pod sandbox's "pause" process: the first process of every pod, which holds the pod's
 * namespaces open while containers come and go. It does what Kubernetes' build/pause/linux/pause.c
 * does, written here so the node needs no image from a registry:
 *   - SIGINT and SIGTERM end it (exit 0): the runtime stops a sandbox with SIGTERM;
 *   - as PID 1 of a shared PID namespace it reaps orphaned children (SIGCHLD);
 *   - otherwise it sleeps in pause() forever, using no CPU.
 * Built static (gcc -static) so the image needs nothing else: hack/node-binaries.sh.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void) sig;
  _exit(0);
}

static void on_child(int sig) {
  (void) sig;
  /* Reap every child that has exited; never block. */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static void handle(int sig, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) < 0) {
    fprintf(stderr, "pause: sigaction(%d): %s\n", sig, strerror(errno));
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("phoenix pause 1.0\n");
    return 0;
  }
  if (getpid() != 1) {
    /* Not an error (e.g. run by hand), but then it reaps nobody's orphans. */
    fprintf(stderr, "pause: not running as PID 1\n");
  }
  handle(SIGINT, on_stop, 0);
  handle(SIGTERM, on_stop, 0);
  handle(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART);
  for (;;) {
    pause();
  }
  return 1; /* unreachable */
}
