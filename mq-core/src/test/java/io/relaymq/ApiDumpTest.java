package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jetbrains.kotlin.abi.tools.AbiFilters;
import org.jetbrains.kotlin.abi.tools.AbiTools;
import org.junit.jupiter.api.Test;

/**
 * The binary-compatibility dump: {@code api/mq-core.api} lists the public JVM surface of mq-core as Kotlin's
 * ABI tools (the successor of the binary-compatibility-validator) read it from the compiled classes
 * (public and protected classes and members; Kotlin {@code internal}, synthetic and
 * {@code io.relaymq.internal} declarations left out). A change of the public surface fails this test until the
 * checked-in dump is updated with it, so every API change shows up in review as a diff of that file.
 *
 * <p>What the dump cannot show (Kotlin {@code internal} members are public in bytecode, so Java sees them
 * even though the dump leaves them out) is checked by {@link PublicSurfaceTest}.
 */
public class ApiDumpTest {

    static final String UPDATE_PROPERTY = "relaymq.api.update";

    /**
     * The module under test: the one whose tests run (surefire's basedir). Other library modules reuse this
     * test from mq-core's test jar by extending it, e.g. mq-test's {@code io.relaymq.test.ApiDumpTest}.
     */
    private static Path basedir() {
        return Path.of(System.getProperty("basedir", ".")).toAbsolutePath().normalize();
    }

    @Test
    void publicApiMatchesTheCheckedInDump() throws Exception {
        Path basedir = basedir();
        String module = basedir.getFileName().toString();
        String updateCommand = "mvn -B -pl " + module + " -am verify -D" + UPDATE_PROPERTY + "=true"
            + "\n(or, this test alone: mvn -B -pl " + module + " -am test -Dtest=ApiDumpTest"
            + " -Dsurefire.failIfNoSpecifiedTests=false -D" + UPDATE_PROPERTY + "=true)";
        Path checkedIn = basedir.resolve("api").resolve(module + ".api");
        String actual = currentDump();

        if (Boolean.getBoolean(UPDATE_PROPERTY)) {
            Files.createDirectories(checkedIn.getParent());
            Files.writeString(checkedIn, actual, StandardCharsets.UTF_8);
            System.out.println("Updated " + checkedIn);
            return;
        }
        if (!Files.exists(checkedIn)) {
            fail("No API dump at " + checkedIn + ". Create it with:\n    " + updateCommand
                + "\nand commit " + module + "/api/" + module + ".api.");
        }
        String expected = Files.readString(checkedIn, StandardCharsets.UTF_8);
        if (!expected.equals(actual)) {
            Path generated = basedir.resolve("target").resolve("api").resolve(module + ".api");
            Files.createDirectories(generated.getParent());
            Files.writeString(generated, actual, StandardCharsets.UTF_8);
            String diff = AbiTools.Companion.getInstance(AbiTools.class.getClassLoader())
                .filesDiff(checkedIn.toFile(), generated.toFile());
            fail("The public API of " + module + " differs from the checked-in dump " + module + "/api/" + module
                + ".api (current dump: " + generated + ").\n"
                + "If the change is intended, update the dump and commit it with the change:\n    " + updateCommand
                + "\nDifference (- checked in, + current):\n" + diff);
        }
    }

    /** The ABI dump of the module's main classes (target/classes), without io.relaymq.internal. */
    static String currentDump() throws IOException, URISyntaxException {
        Path classes = basedir().resolve("target").resolve("classes");
        assertTrue(Files.isDirectory(classes), "expected compiled classes in a directory, got " + classes);
        List<File> classFiles;
        try (Stream<Path> files = Files.walk(classes)) {
            classFiles = files.filter(p -> p.toString().endsWith(".class")).sorted().map(Path::toFile)
                .collect(Collectors.toList());
        }
        AbiFilters filters = new AbiFilters(Set.of(), Set.of("io.relaymq.internal.**"), Set.of(), Set.of());
        StringBuilder dump = new StringBuilder();
        AbiTools.Companion.getInstance(AbiTools.class.getClassLoader()).printJvmDump(dump, classFiles, filters);
        return dump.toString();
    }
}
