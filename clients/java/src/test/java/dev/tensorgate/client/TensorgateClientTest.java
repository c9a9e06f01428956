package dev.tensorgate.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.junit.AfterClass;
import org.junit.Assume;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Against a real tensorgate server (its gRPC door in -Dtensorgate.grpc=host:port, the
 * test photos in -Dtensorgate.photos=folder); tests/test_java_client.py starts both.
 */
public class TensorgateClientTest {
  private static TensorgateClient client;
  private static String target;
  private static Path photos;

  @BeforeClass
  public static void connect() {
    target = System.getProperty("tensorgate.grpc", "");
    Assume.assumeFalse("no server given (-Dtensorgate.grpc=host:port)", target.isEmpty());
    photos = Path.of(System.getProperty("tensorgate.photos", "."));
    client = TensorgateClient.builder(target).deadline(Duration.ofSeconds(20)).build();
  }

  @AfterClass
  public static void close() {
    if (client != null) {
      client.close();
    }
  }

  private static TensorgateException failure(Runnable call) {
    try {
      call.run();
    } catch (CompletionException error) {
      assertTrue(String.valueOf(error.getCause()), error.getCause() instanceof TensorgateException);
      return (TensorgateException) error.getCause();
    }
    fail("the call succeeded");
    return null;
  }

  @Test
  public void theCatComesBackAsACat() throws IOException {
    byte[] cat = Files.readAllBytes(photos.resolve("cat.jpg"));
    byte[] coffee = Files.readAllBytes(photos.resolve("coffee.png"));
    List<List<Prediction>> answers = client.predict(List.of(cat, coffee), 3).join();
    assertEquals(2, answers.size());
    Prediction best = answers.get(0).get(0);
    assertTrue(best.toString(), best.index() >= 281 && best.index() <= 285); // the cats
    assertEquals(3, answers.get(0).size());
    assertEquals(967, answers.get(1).get(0).index());
    assertEquals("espresso", answers.get(1).get(0).label());
    assertTrue(best.score() > 0 && best.score() <= 1);
  }

  @Test
  public void aCorruptImageRaisesTheServersMessage() {
    byte[] corrupt = "\u00ff\u00d8\u00ff not a jpeg".getBytes(StandardCharsets.ISO_8859_1);
    TensorgateException error = failure(() -> client.predict(List.of(corrupt), 1).join());
    assertEquals(TensorgateException.Kind.INVALID_INPUT, error.kind());
    assertTrue(error.getMessage(), error.getMessage().contains("JPEG"));
  }

  @Test
  public void theDeadlineIsEnforced() throws IOException {
    byte[] cat = Files.readAllBytes(photos.resolve("cat.jpg"));
    try (TensorgateClient hurried =
        TensorgateClient.builder(target).deadline(Duration.ofMillis(1)).build()) {
      TensorgateException error = failure(() -> hurried.predict(List.of(cat), 1).join());
      assertEquals(TensorgateException.Kind.DEADLINE_EXCEEDED, error.kind());
    }
  }

  @Test
  public void tensorsGoThroughInfer() {
    float[] left = new float[16];
    float[] right = new float[16];
    for (int i = 0; i < 16; i++) {
      left[i] = i;
      right[i] = 1;
    }
    long[] shape = {1, 16};
    Map<String, Tensor> outputs =
        client
            .infer(
                "add_sub_fp32",
                List.of(Tensor.fp32("INPUT0", shape, left), Tensor.fp32("INPUT1", shape, right)),
                "OUTPUT0")
            .join();
    float[] expected = new float[16];
    for (int i = 0; i < 16; i++) {
      expected[i] = i + 1;
    }
    assertArrayEquals(expected, outputs.get("OUTPUT0").asFloats(), 0f);
    assertArrayEquals(new long[] {1, 16}, outputs.get("OUTPUT0").shape());
  }

  @Test
  public void unavailableIsRetriedWithBackoffThenRaised() {
    // Nothing listens on port 1: every attempt is UNAVAILABLE (connection refused).
    try (TensorgateClient nowhere =
        TensorgateClient.builder("127.0.0.1:1")
            .attempts(3)
            .backoff(Duration.ofMillis(40), Duration.ofMillis(400))
            .build()) {
      long started = System.nanoTime();
      TensorgateException error = failure(() -> nowhere.isLive().join());
      long waitedMs = (System.nanoTime() - started) / 1_000_000;
      assertEquals(TensorgateException.Kind.UNAVAILABLE, error.kind());
      assertTrue("waited " + waitedMs + " ms", waitedMs >= 60); // 20–40 ms, then 40–80 ms
    }
  }

  @Test
  public void healthAndMetadata() {
    assertTrue(client.isLive().join());
    assertTrue(client.isModelReady("efficientnet-lite0").join());
    assertEquals("onnxruntime_onnx", client.modelMetadata("efficientnet-lite0").join().getPlatform());
    TensorgateException error = failure(() -> client.modelMetadata("no-such-model").join());
    assertEquals(TensorgateException.Kind.NOT_FOUND, error.kind());
    assertTrue(error.getMessage(), error.getMessage().contains("no-such-model"));
  }
}
