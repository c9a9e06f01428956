package dev.tensorgate.client;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import inference.GRPCInferenceServiceGrpc;
import inference.GrpcService;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A tensorgate (or any KServe V2 / Triton) server over gRPC: photos in, classes out, and
 * tensors for any model.
 *
 * <pre>{@code
 * try (TensorgateClient client = TensorgateClient.builder("127.0.0.1:8001").build()) {
 *   List<List<Prediction>> classes = client.predict(List.of(jpegBytes), 5).join();
 * }
 * }</pre>
 *
 * <p>One channel (HTTP/2, its connections pooled by gRPC) serves every call; each call has
 * a deadline; a call the server refuses as UNAVAILABLE (a full queue, a model loading, a
 * server draining) is retried with exponential backoff and jitter until the deadline or the
 * attempts run out. Failures complete the future with a {@link TensorgateException} that
 * carries the server's message.
 */
public final class TensorgateClient implements AutoCloseable {
  private final ManagedChannel channel;
  private final GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub stub;
  private final String model;
  private final Duration deadline;
  private final int attempts;
  private final Duration backoff;
  private final Duration maxBackoff;
  private final ScheduledExecutorService timer;
  private final Map<String, CompletableFuture<GrpcService.ModelMetadataResponse>> metadata =
      new ConcurrentHashMap<>();

  private TensorgateClient(Builder builder) {
    this.channel =
        NettyChannelBuilder.forTarget(builder.target)
            .usePlaintext()
            .maxInboundMessageSize(64 << 20)
            .build();
    GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub base =
        GRPCInferenceServiceGrpc.newFutureStub(channel);
    if (builder.token != null) {
      Metadata headers = new Metadata();
      headers.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + builder.token);
      base = base.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    this.stub = base;
    this.model = builder.model;
    this.deadline = builder.deadline;
    this.attempts = builder.attempts;
    this.backoff = builder.backoff;
    this.maxBackoff = builder.maxBackoff;
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            runnable -> {
              Thread thread = new Thread(runnable, "tensorgate-retry");
              thread.setDaemon(true);
              return thread;
            });
  }

  /** A client of the server at {@code target} ({@code host:port} of its gRPC door). */
  public static Builder builder(String target) {
    return new Builder(target);
  }

  // ------------------------------------------------------------------ health, metadata
  /** True when the server is live. */
  public CompletableFuture<Boolean> isLive() {
    return call(
        s -> s.serverLive(GrpcService.ServerLiveRequest.getDefaultInstance()),
        GrpcService.ServerLiveResponse::getLive);
  }

  /** True when every model of the server is ready (and it is not draining). */
  public CompletableFuture<Boolean> isReady() {
    return call(
        s -> s.serverReady(GrpcService.ServerReadyRequest.getDefaultInstance()),
        GrpcService.ServerReadyResponse::getReady);
  }

  /** True when {@code model} (or pipeline) serves. */
  public CompletableFuture<Boolean> isModelReady(String model) {
    GrpcService.ModelReadyRequest request =
        GrpcService.ModelReadyRequest.newBuilder().setName(model).build();
    return call(s -> s.modelReady(request), GrpcService.ModelReadyResponse::getReady);
  }

  /** The model's metadata: versions, platform, inputs and outputs. */
  public CompletableFuture<GrpcService.ModelMetadataResponse> modelMetadata(String model) {
    GrpcService.ModelMetadataRequest request =
        GrpcService.ModelMetadataRequest.newBuilder().setName(model).build();
    return call(s -> s.modelMetadata(request), Function.identity());
  }

  // ---------------------------------------------------------------------- inference
  /** {@link #predict(String, List, int)} with the builder's model. */
  public CompletableFuture<List<List<Prediction>>> predict(List<byte[]> images, int topK) {
    return predict(model, images, topK);
  }

  /**
   * Classifies encoded photos (JPEG, PNG, WebP): per image, its {@code topK} best classes,
   * best first. The photos travel as one BYTES tensor through V2 infer; the server decodes
   * and preprocesses them as its {@code /classify} route does and answers through Triton's
   * classification extension.
   */
  public CompletableFuture<List<List<Prediction>>> predict(
      String model, List<byte[]> images, int topK) {
    if (images.isEmpty() || topK < 1) {
      return CompletableFuture.failedFuture(
          new TensorgateException(
              TensorgateException.Kind.INVALID_INPUT,
              "predict needs at least one image and topK >= 1, got "
                  + images.size()
                  + " images and topK "
                  + topK));
    }
    return signature(model)
        .thenCompose(
            meta -> {
              String input = meta.getInputs(0).getName();
              String output = meta.getOutputs(0).getName();
              GrpcService.InferParameter classes =
                  GrpcService.InferParameter.newBuilder().setInt64Param(topK).build();
              Tensor photos = Tensor.bytes(input, new long[] {images.size()}, images);
              GrpcService.ModelInferRequest request =
                  request(model, List.of(photos))
                      .addOutputs(
                          GrpcService.ModelInferRequest.InferRequestedOutputTensor.newBuilder()
                              .setName(output)
                              .putParameters("classification", classes))
                      .build();
              return call(s -> s.modelInfer(request), response -> rows(response, images.size()));
            });
  }

  /** Runs {@code inputs} (rows first) through {@code model}: its outputs by name (all, or
   * those named in {@code outputs}). */
  public CompletableFuture<Map<String, Tensor>> infer(
      String model, List<Tensor> inputs, String... outputs) {
    GrpcService.ModelInferRequest.Builder request = request(model, inputs);
    for (String name : outputs) {
      request.addOutputs(
          GrpcService.ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName(name));
    }
    GrpcService.ModelInferRequest built = request.build();
    return call(s -> s.modelInfer(built), TensorgateClient::tensors);
  }

  @Override
  public void close() {
    timer.shutdownNow();
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException interrupted) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  // ----------------------------------------------------------------------- helpers
  private CompletableFuture<GrpcService.ModelMetadataResponse> signature(String model) {
    CompletableFuture<GrpcService.ModelMetadataResponse> known =
        metadata.computeIfAbsent(model, this::modelMetadata);
    return known.whenComplete(
        (found, error) -> {
          if (error != null) {
            metadata.remove(model, known); // a failed lookup is asked again next time
          }
        });
  }

  private static GrpcService.ModelInferRequest.Builder request(String model, List<Tensor> inputs) {
    GrpcService.ModelInferRequest.Builder request =
        GrpcService.ModelInferRequest.newBuilder().setModelName(model);
    for (Tensor tensor : inputs) {
      GrpcService.ModelInferRequest.InferInputTensor.Builder input =
          GrpcService.ModelInferRequest.InferInputTensor.newBuilder()
              .setName(tensor.name())
              .setDatatype(tensor.datatype());
      for (long size : tensor.shape()) {
        input.addShape(size);
      }
      request.addInputs(input).addRawInputContents(ByteString.copyFrom(tensor.data()));
    }
    return request;
  }

  private static List<List<Prediction>> rows(GrpcService.ModelInferResponse response, int images) {
    Map<String, Tensor> outputs = tensors(response);
    Tensor ranked = outputs.values().iterator().next();
    List<byte[]> items = ranked.asBytes();
    if (items.isEmpty() || items.size() % images != 0) {
      throw new TensorgateException(
          TensorgateException.Kind.PROTOCOL,
          "the server answered " + items.size() + " classes for " + images + " images");
    }
    int top = items.size() / images;
    List<List<Prediction>> out = new ArrayList<>(images);
    for (int i = 0; i < images; i++) {
      List<Prediction> classes = new ArrayList<>(top);
      for (byte[] item : items.subList(i * top, (i + 1) * top)) {
        classes.add(Prediction.parse(new String(item, StandardCharsets.UTF_8)));
      }
      out.add(classes);
    }
    return out;
  }

  private static Map<String, Tensor> tensors(GrpcService.ModelInferResponse response) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (int i = 0; i < response.getOutputsCount(); i++) {
      GrpcService.ModelInferResponse.InferOutputTensor output = response.getOutputs(i);
      long[] shape = output.getShapeList().stream().mapToLong(Long::longValue).toArray();
      byte[] data = response.getRawOutputContents(i).toByteArray();
      out.put(output.getName(), new Tensor(output.getName(), output.getDatatype(), shape, data));
    }
    return out;
  }

  /** One call with the deadline, retried with backoff while the server is UNAVAILABLE. */
  private <R, T> CompletableFuture<T> call(
      Function<GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub, ListenableFuture<R>> rpc,
      Function<R, T> answer) {
    Deadline until = Deadline.after(deadline.toNanos(), TimeUnit.NANOSECONDS);
    CompletableFuture<T> result = new CompletableFuture<>();
    attempt(rpc, answer, until, 1, result);
    return result;
  }

  private <R, T> void attempt(
      Function<GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub, ListenableFuture<R>> rpc,
      Function<R, T> answer,
      Deadline until,
      int number,
      CompletableFuture<T> result) {
    ListenableFuture<R> pending = rpc.apply(stub.withDeadline(until));
    Futures.addCallback(
        pending,
        new FutureCallback<R>() {
          @Override
          public void onSuccess(R response) {
            try {
              result.complete(answer.apply(response));
            } catch (RuntimeException error) {
              result.completeExceptionally(TensorgateException.from(error));
            }
          }

          @Override
          public void onFailure(Throwable error) {
            long wait = retryWait(error, number);
            if (wait < 0 || until.timeRemaining(TimeUnit.MILLISECONDS) <= wait) {
              result.completeExceptionally(TensorgateException.from(error));
              return;
            }
            timer.schedule(
                () -> attempt(rpc, answer, until, number + 1, result), wait, TimeUnit.MILLISECONDS);
          }
        },
        MoreExecutors.directExecutor());
  }

  /** Milliseconds to wait before attempt {@code number + 1}, or -1 not to retry. */
  private long retryWait(Throwable error, int number) {
    if (number >= attempts
        || !(error instanceof StatusRuntimeException status)
        || status.getStatus().getCode() != Status.Code.UNAVAILABLE) {
      return -1;
    }
    long ceiling = Math.min(maxBackoff.toMillis(), backoff.toMillis() << (number - 1));
    return ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1); // jittered
  }

  /** How to reach the server and how long to try. */
  public static final class Builder {
    private final String target;
    private String model = "efficientnet-lite0";
    private Duration deadline = Duration.ofSeconds(30);
    private int attempts = 4;
    private Duration backoff = Duration.ofMillis(100);
    private Duration maxBackoff = Duration.ofSeconds(5);
    private String token;

    private Builder(String target) {
      this.target = target;
    }

    /** The model {@link #predict(List, int)} asks (default: efficientnet-lite0). */
    public Builder model(String model) {
      this.model = model;
      return this;
    }

    /** Each call's deadline, retries included (default 30 s). */
    public Builder deadline(Duration deadline) {
      this.deadline = deadline;
      return this;
    }

    /** Attempts per call while the server answers UNAVAILABLE (default 4). */
    public Builder attempts(int attempts) {
      this.attempts = Math.max(1, attempts);
      return this;
    }

    /** The first retry's wait, doubled each time up to {@code max} (100 ms, 5 s). */
    public Builder backoff(Duration first, Duration max) {
      this.backoff = first;
      this.maxBackoff = max;
      return this;
    }

    /** A bearer token for a server started with one. */
    public Builder token(String token) {
      this.token = token;
      return this;
    }

    public TensorgateClient build() {
      return new TensorgateClient(this);
    }
  }
}
