package dev.tensorgate.client;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A named tensor as the V2 protocol carries it: datatype, shape and little-endian bytes
 * (BYTES elements each prefixed by their 4-byte little-endian length).
 */
public record Tensor(String name, String datatype, long[] shape, byte[] data) {

  /** A float32 tensor. */
  public static Tensor fp32(String name, long[] shape, float[] values) {
    ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    buffer.asFloatBuffer().put(values);
    return new Tensor(name, "FP32", shape.clone(), buffer.array());
  }

  /** An int64 tensor. */
  public static Tensor int64(String name, long[] shape, long[] values) {
    ByteBuffer buffer = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    buffer.asLongBuffer().put(values);
    return new Tensor(name, "INT64", shape.clone(), buffer.array());
  }

  /** A BYTES tensor of one element per item (encoded images, strings). */
  public static Tensor bytes(String name, long[] shape, java.util.List<byte[]> items) {
    int size = items.stream().mapToInt(item -> 4 + item.length).sum();
    ByteBuffer buffer = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    for (byte[] item : items) {
      buffer.putInt(item.length).put(item);
    }
    return new Tensor(name, "BYTES", shape.clone(), buffer.array());
  }

  /** The values of a float32 tensor. */
  public float[] asFloats() {
    expect("FP32");
    float[] out = new float[data.length / 4];
    ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /** The values of an int64 tensor. */
  public long[] asLongs() {
    expect("INT64");
    long[] out = new long[data.length / 8];
    ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(out);
    return out;
  }

  /** The elements of a BYTES tensor. */
  public java.util.List<byte[]> asBytes() {
    expect("BYTES");
    java.util.List<byte[]> out = new java.util.ArrayList<>();
    ByteBuffer buffer = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    while (buffer.remaining() >= 4) {
      byte[] item = new byte[buffer.getInt()];
      buffer.get(item);
      out.add(item);
    }
    return out;
  }

  private void expect(String wanted) {
    if (!datatype.equals(wanted)) {
      throw new IllegalStateException("tensor " + name + " is " + datatype + ", not " + wanted);
    }
  }

  @Override
  public String toString() {
    return "Tensor[" + name + " " + datatype + " " + Arrays.toString(shape) + "]";
  }
}
