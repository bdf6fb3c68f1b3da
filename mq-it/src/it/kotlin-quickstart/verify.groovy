// Post-build hook: the quick start ran to its end, and what an IDE attaches to mq-core is installed with it.
String log = new File(basedir, 'build.log').getText('UTF-8')
assert log.contains('QUICK_START_DONE') : "the Kotlin quick start did not run to its end; see ${basedir}/build.log"

File dir = new File(localRepositoryPath, "io/relaymq/mq-core/${relaymqVersion}")
for (String classifier : ['sources', 'javadoc']) {
    File jar = new File(dir, "mq-core-${relaymqVersion}-${classifier}.jar")
    assert jar.isFile() : "no ${classifier} jar of mq-core in the consumers' repository: ${jar}"
}
// The sources jar holds the public API's Kotlin sources (what "go to declaration" shows).
def sources = new java.util.zip.ZipFile(new File(dir, "mq-core-${relaymqVersion}-sources.jar"))
try {
    assert sources.getEntry('io/relaymq/MQ.kt') != null : 'io/relaymq/MQ.kt missing from the sources jar'
} finally {
    sources.close()
}
// The javadoc jar documents the public API (the Java door included) and nothing of io.relaymq.internal.
def javadoc = new java.util.zip.ZipFile(new File(dir, "mq-core-${relaymqVersion}-javadoc.jar"))
try {
    def page = javadoc.getEntry('io/relaymq/MessageBus.html')
    assert page != null : 'io/relaymq/MessageBus.html missing from the javadoc jar'
    assert javadoc.getInputStream(page).getText('UTF-8').contains('registerQueue') : 'MessageBus.html documents no registerQueue'
    def internal = javadoc.entries().toList()*.name.findAll { it.contains('io/relaymq/internal') }
    assert internal.isEmpty() : "the javadoc jar documents io.relaymq.internal: ${internal.take(5)}"
} finally {
    javadoc.close()
}
return true
