// Post-build hook: the quick start ran to its end (main printed the marker after the README's code).
String log = new File(basedir, 'build.log').getText('UTF-8')
assert log.contains('QUICK_START_DONE') : "the Java quick start did not run to its end; see ${basedir}/build.log"
return true
