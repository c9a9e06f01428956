package dev.tensorgate.client;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * A failed call. {@link #kind()} says what failed (from the gRPC status); the message is
 * the server's own, which names what was wrong and the fix.
 */
public class TensorgateException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** What failed, from the gRPC status the server answered. */
  public enum Kind {
    /** Bad input: a corrupt image, a wrong tensor (INVALID_ARGUMENT). */
    INVALID_INPUT,
    /** No such model or version (NOT_FOUND). */
    NOT_FOUND,
    /** The server cannot take the call now: full queue, loading, draining (UNAVAILABLE). */
    UNAVAILABLE,
    /** The call ran past its deadline (DEADLINE_EXCEEDED). */
    DEADLINE_EXCEEDED,
    /** Missing or wrong token, or not allowed (UNAUTHENTICATED, PERMISSION_DENIED). */
    NOT_ALLOWED,
    /** Memory budget or size limit (RESOURCE_EXHAUSTED). */
    RESOURCE_EXHAUSTED,
    /** The answer was not what the protocol says. */
    PROTOCOL,
    /** Anything else (INTERNAL, UNKNOWN, ...). */
    INTERNAL
  }

  private final Kind kind;
  private final Status.Code code;

  TensorgateException(Kind kind, String message) {
    this(kind, Status.Code.UNKNOWN, message, null);
  }

  TensorgateException(Kind kind, Status.Code code, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
    this.code = code;
  }

  /** What failed. */
  public Kind kind() {
    return kind;
  }

  /** The gRPC status code the server answered. */
  public Status.Code code() {
    return code;
  }

  /** The exception a gRPC failure stands for, carrying the server's message. */
  static TensorgateException from(Throwable error) {
    if (error instanceof TensorgateException known) {
      return known;
    }
    if (!(error instanceof StatusRuntimeException status)) {
      return new TensorgateException(Kind.INTERNAL, Status.Code.UNKNOWN, String.valueOf(error), error);
    }
    Status.Code code = status.getStatus().getCode();
    Kind kind = switch (code) {
      case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> Kind.INVALID_INPUT;
      case NOT_FOUND -> Kind.NOT_FOUND;
      case UNAVAILABLE -> Kind.UNAVAILABLE;
      case DEADLINE_EXCEEDED -> Kind.DEADLINE_EXCEEDED;
      case UNAUTHENTICATED, PERMISSION_DENIED -> Kind.NOT_ALLOWED;
      case RESOURCE_EXHAUSTED -> Kind.RESOURCE_EXHAUSTED;
      default -> Kind.INTERNAL;
    };
    String message = status.getStatus().getDescription();
    return new TensorgateException(kind, code, message == null ? code.toString() : message, error);
  }
}
