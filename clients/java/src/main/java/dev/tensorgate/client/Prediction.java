package dev.tensorgate.client;

/** One class of an image, as the server's classification extension answers it. */
public record Prediction(int index, String label, double score) {

  /** Parses Triton's {@code "score:index:label"} (the label may hold colons). */
  static Prediction parse(String row) {
    String[] parts = row.split(":", 3);
    if (parts.length != 3) {
      throw new TensorgateException(
          TensorgateException.Kind.PROTOCOL, "a classification row is not score:index:label: " + row);
    }
    return new Prediction(Integer.parseInt(parts[1]), parts[2], Double.parseDouble(parts[0]));
  }
}
