package dev.phoenix.operator.act;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.function.Function;

/**
 * API calls of one action sent concurrently, at most {@code limit} in flight, results in input
 * order. A gang of 1,000 pods is 1,000 independent creates: one after the other they cost 1,000
 * round trips, which is most of a large gang's recovery. The first failure is rethrown after every
 * call has ended (an action is idempotent: the reconcile that retries it sees what was done).
 */
final class Parallel {
    /** Threads shared by every reconcile; calls mostly wait on the network. */
    static final ExecutorService CALLS =
            Executors.newCachedThreadPool(
                    r -> {
                        Thread t = new Thread(r, "phoenix-api-call");
                        t.setDaemon(true);
                        return t;
                    });

    private Parallel() {}

    /** The future's value; a failed call's own RuntimeException (not a CompletionException). */
    static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    static <T, R> List<R> map(List<T> items, Function<T, R> call, int limit) {
        if (items.size() <= 1) {
            return items.stream().map(call).toList();
        }
        Semaphore permits = new Semaphore(limit);
        List<CompletableFuture<R>> futures = new ArrayList<>(items.size());
        for (T item : items) {
            permits.acquireUninterruptibly();
            futures.add(
                    CompletableFuture.supplyAsync(
                            () -> {
                                try {
                                    return call.apply(item);
                                } finally {
                                    permits.release();
                                }
                            },
                            CALLS));
        }
        List<R> out = new ArrayList<>(items.size());
        RuntimeException first = null;
        for (CompletableFuture<R> f : futures) {
            try {
                out.add(f.join());
            } catch (CompletionException e) {
                RuntimeException cause =
                        e.getCause() instanceof RuntimeException r ? r : new RuntimeException(e);
                if (first == null) {
                    first = cause;
                }
                out.add(null);
            }
        }
        if (first != null) {
            throw first;
        }
        return out;
    }
}
