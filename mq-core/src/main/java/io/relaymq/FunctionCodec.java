package io.relaymq;

/** The codec {@link MessageCodec#of(Class, MessageCodec.Encoder, MessageCodec.Decoder)} makes of two functions. */
final class FunctionCodec<T> implements MessageCodec<T> {
    private final Class<T> type;
    private final Encoder<T> encoder;
    private final Decoder<T> decoder;

    FunctionCodec(Class<T> type, Encoder<T> encoder, Decoder<T> decoder) {
        this.type = type;
        this.encoder = encoder;
        this.decoder = decoder;
    }

    @Override
    public Class<T> type() {
        return type;
    }

    @Override
    public byte[] encode(T value) throws Exception {
        return encoder.encode(value);
    }

    @Override
    public T decode(byte[] bytes) throws Exception {
        return decoder.decode(bytes);
    }

    @Override
    public String toString() {
        return "MessageCodec(" + type.getName() + ")";
    }
}
