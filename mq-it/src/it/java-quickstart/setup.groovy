// Pre-build hook: README's "Quick start: Java" and "Use it in your project" become this project's source
// and dependencies (see ../QuickStarts.groovy, passed in as quickStartsScript).
def quickStarts = new GroovyShell(this.class.classLoader).parse(new File(quickStartsScript))
quickStarts.writeQuickStart(new File(readme), 'Java', basedir)
return true
