/*
 * A tiny static program for the real-node tests (image docker.io/phoenix/probe:1.0, made by
 * hack/node-binaries.sh like the pause image): no shell, no libc beyond what is linked in.
 *   --log TEXT          print TEXT and a newline to stdout (the container log)
 *   --write FILE TEXT   write TEXT and a newline to FILE (e.g. on a hostPath volume)
 *   --on-term FILE      on SIGTERM write "SIGTERM" to FILE, then exit 0
 *   --sleep             wait for a signal forever (without it, exit 0 at the end)
 * Arguments are processed in order; $(VAR) in them is the kubelet's expansion, not ours.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *term_file;

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    perror(path);
    return -1;
  }
  size_t n = strlen(text);
  int ok = write(fd, text, n) == (ssize_t) n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  close(fd);
  return ok ? 0 : -1;
}

static void on_term(int sig) {
  (void) sig;
  _exit(term_file != NULL && write_file(term_file, "SIGTERM") != 0 ? 1 : 0);
}

int main(int argc, char **argv) {
  int sleep_forever = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
      printf("%s\n", argv[++i]);
      fflush(stdout);
    } else if (strcmp(argv[i], "--write") == 0 && i + 2 < argc) {
      if (write_file(argv[i + 1], argv[i + 2]) != 0) {
        return 2;
      }
      i += 2;
    } else if (strcmp(argv[i], "--on-term") == 0 && i + 1 < argc) {
      term_file = argv[++i];
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_term;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGTERM, &sa, NULL);
    } else if (strcmp(argv[i], "--sleep") == 0) {
      sleep_forever = 1;
    } else {
      fprintf(stderr, "probe: unknown argument %s\n", argv[i]);
      return 64;
    }
  }
  while (sleep_forever) {
    pause();
  }
  return 0;
}
