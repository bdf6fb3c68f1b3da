package io.relaymq;

import java.nio.charset.StandardCharsets;

/** The built-in codecs behind {@link MessageCodec#utf8()} and {@link MessageCodec#bytes()}. */
final class BuiltInCodecs {
    private BuiltInCodecs() {
    }

    static final MessageCodec<String> UTF8 = new MessageCodec<>() {
        @Override
        public Class<String> type() {
            return String.class;
        }

        @Override
        public byte[] encode(String value) {
            return value.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String decode(byte[] bytes) {
            return new String(bytes, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            return "MessageCodec.utf8()";
        }
    };

    static final MessageCodec<byte[]> BYTES = new MessageCodec<>() {
        @Override
        public Class<byte[]> type() {
            return byte[].class;
        }

        @Override
        public byte[] encode(byte[] value) {
            return value;
        }

        @Override
        public byte[] decode(byte[] bytes) {
            return bytes;
        }

        @Override
        public String toString() {
            return "MessageCodec.bytes()";
        }
    };
}
