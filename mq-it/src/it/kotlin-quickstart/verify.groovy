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
return true
