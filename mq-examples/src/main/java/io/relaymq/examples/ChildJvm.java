package io.relaymq.examples;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;

/** What the demos that start child JVMs ({@link DurableQueueDemo}, {@link RedisWordEnrichmentDemo}) need to start them. */
final class ChildJvm {
    private ChildJvm() { }

    /** The {@code java} executable of this JVM. */
    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** The program's class path, also under {@code exec:java}, where it lives in a class loader rather than {@code java.class.path}. */
    static String classpath() {
        ClassLoader loader = ChildJvm.class.getClassLoader();
        if (loader instanceof URLClassLoader) {
            StringBuilder path = new StringBuilder();
            for (URL url : ((URLClassLoader) loader).getURLs()) {
                if (!url.getProtocol().equals("file")) continue;
                if (path.length() > 0) path.append(File.pathSeparator);
                path.append(new File(url.getPath()).getAbsolutePath());
            }
            if (path.length() > 0) return path.toString();
        }
        return System.getProperty("java.class.path");
    }
}
