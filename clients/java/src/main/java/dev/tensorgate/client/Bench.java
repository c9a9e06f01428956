package dev.tensorgate.client;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A closed loop of {@code concurrency} callers classifying one photo for {@code seconds}
 * (after a one-second warm-up): prints images/s and the p50 / p99 latency in ms, one line
 * (bench/java_client.py runs it beside the Python clients).
 *
 * <p>Arguments: {@code host:port photo seconds concurrency}.
 */
public final class Bench {
  private Bench() {}

  public static void main(String[] args) throws Exception {
    String target = args[0];
    byte[] photo = Files.readAllBytes(Path.of(args[1]));
    double seconds = Double.parseDouble(args[2]);
    int concurrency = Integer.parseInt(args[3]);
    try (TensorgateClient client = TensorgateClient.builder(target).build()) {
      run(client, photo, 1.0, concurrency); // warm-up: connections, metadata, JIT
      List<Long> latencies = run(client, photo, seconds, concurrency);
      Collections.sort(latencies);
      double p50 = latencies.get(latencies.size() / 2) / 1e6;
      double p99 = latencies.get((int) (0.99 * (latencies.size() - 1))) / 1e6;
      System.out.printf(
          "java: %.1f img/s, p50 %.2f ms, p99 %.2f ms, %d calls%n",
          latencies.size() / seconds, p50, p99, latencies.size());
    }
  }

  private static List<Long> run(TensorgateClient client, byte[] photo, double seconds, int callers)
      throws Exception {
    long stop = System.nanoTime() + (long) (seconds * 1e9);
    List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger errors = new AtomicInteger();
    List<CompletableFuture<Void>> loops = new ArrayList<>();
    for (int i = 0; i < callers; i++) {
      CompletableFuture<Void> done = new CompletableFuture<>();
      next(client, photo, stop, latencies, errors, done);
      loops.add(done);
    }
    CompletableFuture.allOf(loops.toArray(new CompletableFuture[0])).get();
    if (errors.get() > 0) {
      System.err.println("errors: " + errors.get());
    }
    return new ArrayList<>(latencies);
  }

  private static void next(
      TensorgateClient client,
      byte[] photo,
      long stop,
      List<Long> latencies,
      AtomicInteger errors,
      CompletableFuture<Void> done) {
    if (System.nanoTime() >= stop) {
      done.complete(null);
      return;
    }
    long started = System.nanoTime();
    client
        .predict(List.of(photo), 5)
        .whenComplete(
            (answer, error) -> {
              if (error == null) {
                latencies.add(System.nanoTime() - started);
              } else {
                errors.incrementAndGet();
              }
              next(client, photo, stop, latencies, errors, done);
            });
  }
}
