package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.StringWriter;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a Java caller's compiler accepts: javac runs on snippets against the compiled mq-core classes.
 * Kotlin's {@code internal} constructors are public in bytecode, so only a real compile shows that
 * Java code cannot create RelayMQ's value types (they hide their constructors behind a synthetic bridge).
 */
class JavaCallerCompileTest {
    @TempDir
    Path out;

    @ParameterizedTest
    @ValueSource(strings = {
        "new Message<String>(1L, null, \"x\", 0, false, null)",
        "new QueueStats(\"q\", 1, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L, false, 1, false, null)",
        "new CloseSummary(java.util.Map.of(), false, null, false, null)",
        "new QueueCloseSummary(\"q\", 0L, 0L, 0L, java.util.List.of(), false, null)",
        "new FanOutResult(\"t\", java.util.Map.of(), false, null)",
        "new FanOutException(\"t\", java.util.Map.of(), java.util.Map.of(), false, null)",
        "new DeadLetter(\"q\", 1L, null, null, 1, \"E\", null, java.time.Instant.EPOCH, java.time.Instant.EPOCH, null, false, null)",
        "new Message<String>(1L, null, \"x\", 0) {}",
    })
    void javaCannotCreateValueTypes(String expression) {
        List<String> errors = compile("Object o = " + expression + ";");
        assertFalse(errors.isEmpty(), "javac accepted: " + expression);
    }

    @Test
    void valueTypesOfferJavaNoConstructor() {
        // The premise of the compile checks above, for every value type at once: what is left public in
        // bytecode is synthetic, which javac never calls.
        for (Class<?> type : List.of(Message.class, QueueStats.class, CloseSummary.class, QueueCloseSummary.class,
            FanOutResult.class, FanOutException.class, DeadLetter.class)) {
            for (java.lang.reflect.Constructor<?> constructor : type.getDeclaredConstructors()) {
                int modifiers = constructor.getModifiers();
                boolean callable = java.lang.reflect.Modifier.isPublic(modifiers) || java.lang.reflect.Modifier.isProtected(modifiers);
                assertFalse(callable && !constructor.isSynthetic(), "Java can call " + constructor);
            }
        }
    }

    @Test
    void javaMakesMessagesForHandlerTestsThroughMessages() {
        List<String> errors = compile(
            "Message<String> m = Messages.of(\"mail\", \"a@example.com\");"
                + "Message<Integer> r = Messages.of(\"mail\", 7, 42L, 2, \"user-1\", java.time.Instant.EPOCH);"
                + "long id = m.id(); String q = m.queue(); String d = m.data(); int a = r.attempt(); String k = r.key();"
                + "java.time.Instant at = m.publishedAt();"
                + "OverflowPolicy p = OverflowPolicy.valueOf(\"REJECT\"); ShutdownMode[] modes = ShutdownMode.values();"
                + "MessageCodec<String> c = MessageCodec.utf8();");
        assertEquals(List.of(), errors);
    }

    @Test
    void harnessReportsErrors() {
        // Guards the test above: a snippet that cannot compile must be reported.
        assertTrue(!compile("int x = \"not an int\";").isEmpty());
    }

    private List<String> compile(String body) {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        String source = "package caller; import io.relaymq.*; class Caller { void run() throws Exception { " + body + " } }";
        JavaFileObject file = new SimpleJavaFileObject(URI.create("string:///caller/Caller.java"), JavaFileObject.Kind.SOURCE) {
            @Override
            public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                return source;
            }
        };
        String classpath = String.join(File.pathSeparator, locationOf(MessageBus.class), locationOf(kotlin.Unit.class));
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        javac.getTask(new StringWriter(), null, diagnostics,
            List.of("-proc:none", "-classpath", classpath, "-d", out.toString(), "-implicit:none", "-Xlint:none"),
            null, List.of(file)).call();
        return diagnostics.getDiagnostics().stream()
            .filter(d -> d.getKind() == javax.tools.Diagnostic.Kind.ERROR)
            .map(d -> d.getMessage(Locale.ROOT))
            .toList();
    }

    private static String locationOf(Class<?> type) {
        try {
            return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
