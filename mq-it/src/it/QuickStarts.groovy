/*
 * Turns README.md into the consumer projects' sources, mechanically, so that what the README shows is what
 * gets compiled and run (used by each project's setup.groovy, the invoker's pre-build hook):
 *
 *  - quick start: the first ```java / ```kotlin code block under the heading "## Quick start: Java" /
 *    "## Quick start: Kotlin". Import lines at the top of the block (blank lines among them) stay at the
 *    top of the file; everything after them becomes, unchanged, the body of
 *      Java:   public class QuickStart { public static void main(String[] args) throws Exception { ... } }
 *      Kotlin: suspend fun main() { ... }      (so suspending calls work as written; class QuickStartKt)
 *    A Kotlin block that declares its own top-level "fun main" is used as the whole file instead.
 *    After the block's last statement main prints QUICK_START_DONE, which verify.groovy looks for.
 *  - dependencies: the ```xml block under "## Use it in your project" replaces the line
 *    "<!-- README: Use it in your project -->" in the project's pom.xml.
 */

/** The lines of the first ```<language> block under the heading {@code heading} (up to the next "## "). */
List<String> codeBlock(File readme, String heading, String language) {
    List<String> lines = readme.readLines('UTF-8')
    int at = lines.findIndexOf { it.trim() == heading }
    if (at < 0) throw new IllegalStateException("README.md has no heading '${heading}'")
    List<String> block = null
    for (int i = at + 1; i < lines.size(); i++) {
        String line = lines[i]
        if (block == null) {
            if (line.startsWith('## ')) break
            if (line.trim() == '```' + language) block = []
        } else if (line.trim() == '```') {
            return block
        } else {
            block << line
        }
    }
    throw new IllegalStateException("README.md has no complete ```${language} code block under '${heading}'")
}

/** [imports, body]: the leading import (and blank) lines, and the rest. */
List<List<String>> splitImports(List<String> block) {
    int i = 0
    while (i < block.size() && (block[i].trim().isEmpty() || block[i].trim().startsWith('import '))) i++
    [block.subList(0, i), block.subList(i, block.size())]
}

String header(String section) {
    "// Generated from README.md, section \"${section}\", by mq-it/src/it/QuickStarts.groovy: do not edit.\n"
}

String javaProgram(List<String> block) {
    def (imports, body) = splitImports(block)
    header('Quick start: Java') + imports.join('\n') + '\n\n' +
        'public class QuickStart {\n' +
        '    public static void main(String[] args) throws Exception {\n' +
        body.collect { it.isEmpty() ? '' : '        ' + it }.join('\n') + '\n' +
        '        System.out.println("QUICK_START_DONE");\n' +
        '    }\n' +
        '}\n'
}

String kotlinProgram(List<String> block) {
    if (block.any { it ==~ /^(suspend\s+)?fun main\(.*/ }) return header('Quick start: Kotlin') + block.join('\n') + '\n'
    def (imports, body) = splitImports(block)
    header('Quick start: Kotlin') + imports.join('\n') + '\n\n' +
        'suspend fun main() {\n' +
        body.collect { it.isEmpty() ? '' : '    ' + it }.join('\n') + '\n' +
        '    println("QUICK_START_DONE")\n' +
        '}\n'
}

/** Writes the quick start of {@code language} ("Java" or "Kotlin") into {@code project}. */
void writeQuickStart(File readme, String language, File project) {
    File source
    String text
    if (language == 'Java') {
        source = new File(project, 'src/main/java/QuickStart.java')
        text = javaProgram(codeBlock(readme, '## Quick start: Java', 'java'))
    } else {
        source = new File(project, 'src/main/kotlin/QuickStart.kt')
        text = kotlinProgram(codeBlock(readme, '## Quick start: Kotlin', 'kotlin'))
    }
    source.parentFile.mkdirs()
    source.setText(text, 'UTF-8')
    println "[setup] ${source} from README.md:\n${text}"

    String placeholder = '<!-- README: Use it in your project -->'
    File pom = new File(project, 'pom.xml')
    String xml = pom.getText('UTF-8')
    if (!xml.contains(placeholder)) throw new IllegalStateException("${pom} has no line ${placeholder}")
    String dependencies = codeBlock(readme, '## Use it in your project', 'xml').join('\n')
    pom.setText(xml.replace(placeholder, dependencies), 'UTF-8')
    println "[setup] dependencies from README.md:\n${dependencies}"
}
