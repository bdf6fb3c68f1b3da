package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * What a Java caller can see of mq-core, read from the compiled classes (target/classes) with reflection.
 *
 * <p>The ABI dump ({@link ApiDumpTest}) shows the public surface as Kotlin declares it, and leaves out Kotlin
 * {@code internal} declarations. But {@code internal} is public in bytecode: Java callers see those classes,
 * constructors and members (internal functions under mangled names such as {@code foo$mq_core}). These tests
 * check the Java view of every class of package {@code io.relaymq} (nested classes included; the
 * {@code io.relaymq.internal} package is implementation and not checked, whatever bytecode makes public):
 *
 * <ul>
 *   <li>only the types meant to be constructed by callers have a constructor Java can call
 *       ({@link #CONSTRUCTIBLE}): the values the library hands out (Message, QueueStats, CloseSummary,
 *       QueueCloseSummary, DeadLetter, FanOutResult), the builders (obtained from {@code builder()}) and
 *       FanOutException are made by the library only;</li>
 *   <li>no Kotlin plumbing: no public static {@code Companion} or {@code INSTANCE} field, no static
 *       {@code getEntries()}, no member whose signature mentions a {@code kotlin.*} or {@code kotlinx.*}
 *       type ({@code kotlin.jvm.functions.*}, {@code kotlin.Unit}, {@code kotlin.time.Duration},
 *       {@code Continuation}, {@code EnumEntries}, {@code DefaultConstructorMarker}, coroutine types), and no
 *       member name that only Kotlin's mangling produces ({@code $}, {@code -});</li>
 *   <li>everything Java sees is in the ABI dump, so nothing Kotlin-internal is reachable from Java.</li>
 * </ul>
 *
 * <p>The Kotlin door {@link MQ} (and its nested classes) is Kotlin-only by design: suspend functions, Kotlin
 * function types and {@code kotlin.time.Duration} are its API, so only the constructor and dump rules apply
 * to it. Synthetic members (default-argument stubs, bridges, {@code @JvmSynthetic}) are invisible to javac
 * and not checked.
 */
class PublicSurfaceTest {

    /** Types a caller may construct with {@code new} (Kotlin: a public constructor). */
    static final Set<String> CONSTRUCTIBLE = Set.of(
        "io.relaymq.MQ",
        "io.relaymq.QueueOptions",
        "io.relaymq.PublishOptions",
        "io.relaymq.RetryPolicy",
        // Exceptions with public constructors: callers may throw them from test doubles and fakes.
        "io.relaymq.BusClosedException",
        "io.relaymq.UnknownQueueException",
        "io.relaymq.QueueFullException",
        "io.relaymq.MessageDroppedException",
        "io.relaymq.SnapshotException",
        "io.relaymq.JournalException",
        "io.relaymq.BackendException",
        "io.relaymq.RemoteHandlerException");

    static final String KOTLIN_DOOR = "io.relaymq.MQ";


    @Test
    void onlyConstructibleTypesHaveJavaVisibleConstructors() throws Exception {
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : javaVisibleClasses()) {
            if (CONSTRUCTIBLE.contains(type.getName())) continue;
            for (Constructor<?> constructor : type.getDeclaredConstructors()) {
                if (javaVisible(constructor)) offenders.add(describe(constructor));
            }
        }
        assertNone("constructors Java can call on types callers must not construct"
            + " (an internal Kotlin constructor is public in bytecode: make it private behind an internal factory,"
            + " or add the type to CONSTRUCTIBLE if callers should build it)",
            offenders);
    }

    @Test
    void noCompanionOrInstanceFields() throws Exception {
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : javaVisibleClasses()) {
            if (kotlinDoor(type)) continue;
            for (Field field : type.getDeclaredFields()) {
                if (javaVisible(field) && Modifier.isStatic(field.getModifiers())
                    && (field.getName().equals("Companion") || field.getName().equals("INSTANCE"))) {
                    offenders.add(describe(field));
                }
            }
        }
        assertNone("Kotlin object fields visible to Java", offenders);
    }

    @Test
    void noStaticGetEntries() throws Exception {
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : javaVisibleClasses()) {
            if (kotlinDoor(type)) continue;
            for (Method method : type.getDeclaredMethods()) {
                if (javaVisible(method) && isEnumGetEntries(method)) {
                    offenders.add(describe(method));
                }
            }
        }
        assertNone("Kotlin enum getEntries() visible to Java (Java uses values())", offenders);
    }

    @Test
    void publicSignaturesContainNoKotlinTypes() throws Exception {
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : javaVisibleClasses()) {
            if (kotlinDoor(type)) continue;
            List<Type> supertypes = new ArrayList<>(List.of(type.getGenericInterfaces()));
            if (type.getGenericSuperclass() != null) supertypes.add(type.getGenericSuperclass());
            for (Type supertype : supertypes) {
                // Kotlin marks its collection implementations with these; javac ignores them.
                if (supertype.getTypeName().startsWith("kotlin.jvm.internal.markers.")) continue;
                String kotlinType = kotlinTypeIn(supertype, new HashSet<>());
                if (kotlinType != null) offenders.add(type.getName() + " extends/implements " + kotlinType);
            }
            for (Member member : javaVisibleMembers(type)) {
                if (isEnumGetEntries(member)) continue; // noStaticGetEntries reports it
                for (Type t : signatureTypes(member)) {
                    String kotlinType = kotlinTypeIn(t, new HashSet<>());
                    if (kotlinType != null) {
                        offenders.add(describe(member) + " mentions " + kotlinType);
                        break;
                    }
                }
            }
        }
        assertNone("Java-visible signatures with Kotlin types", offenders);
    }

    @Test
    void noMangledMemberNames() throws Exception {
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : javaVisibleClasses()) {
            if (kotlinDoor(type)) continue;
            for (Member member : javaVisibleMembers(type)) {
                if (member instanceof Constructor) continue;
                if (member.getName().contains("$") || member.getName().contains("-")) offenders.add(describe(member));
            }
        }
        assertNone("members with Kotlin-mangled names (internal or value-class members) visible to Java", offenders);
    }

    @Test
    void everythingJavaSeesIsInTheApiDump() throws Exception {
        Map<String, Set<String>> dump = parseDump(ApiDumpTest.currentDump());
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : javaVisibleClasses()) {
            String internalName = type.getName().replace('.', '/');
            Set<String> members = dump.get(internalName);
            if (members == null) {
                offenders.add(type.getName() + " (class; Kotlin-internal?)");
                continue;
            }
            for (Member member : javaVisibleMembers(type)) {
                if (!members.contains(dumpKey(member))) offenders.add(describe(member));
            }
        }
        assertNone("declarations Java can see that are not public API (Kotlin internal is public in bytecode:"
            + " make them private, move them to io.relaymq.internal, or hide them from Java with @JvmSynthetic)",
            offenders);
    }

    // --- the classes and members Java sees ---------------------------------------------------------------

    /** Every class of package io.relaymq (nested ones included) a Java source file could name. */
    static List<Class<?>> javaVisibleClasses() throws IOException, URISyntaxException, ClassNotFoundException {
        Path classes = Path.of(MessageBus.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path root = classes.resolve("io").resolve("relaymq");
        List<String> names;
        try (Stream<Path> files = Files.list(root)) { // not recursive: io.relaymq.internal is left out
            names = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".class"))
                .map(n -> "io.relaymq." + n.substring(0, n.length() - ".class".length())).sorted()
                .collect(Collectors.toList());
        }
        assertTrue(names.contains(MessageBus.class.getName()), "no MessageBus.class under " + root);
        List<Class<?>> visible = new ArrayList<>();
        ClassLoader loader = PublicSurfaceTest.class.getClassLoader();
        for (String name : names) {
            Class<?> type = Class.forName(name, false, loader);
            if (javaVisible(type)) visible.add(type);
        }
        return visible;
    }

    static boolean javaVisible(Class<?> type) {
        if (type.isSynthetic() || type.isAnonymousClass() || type.isLocalClass()) return false;
        for (Class<?> c = type; c != null; c = c.getDeclaringClass()) {
            int modifiers = c.getModifiers();
            boolean nested = c.getDeclaringClass() != null;
            if (!Modifier.isPublic(modifiers) && !(nested && Modifier.isProtected(modifiers))) return false;
        }
        return true;
    }

    static boolean javaVisible(Member member) {
        if (member.isSynthetic()) return false;
        if (member instanceof Method && ((Method) member).isBridge()) return false;
        int modifiers = member.getModifiers();
        if (Modifier.isPublic(modifiers)) return true;
        // Protected members are reachable from Java subclasses only.
        return Modifier.isProtected(modifiers) && !Modifier.isFinal(member.getDeclaringClass().getModifiers());
    }

    static List<Member> javaVisibleMembers(Class<?> type) {
        List<Member> members = new ArrayList<>();
        Stream.of(type.getDeclaredConstructors()).filter(PublicSurfaceTest::javaVisible).forEach(members::add);
        Stream.of(type.getDeclaredMethods()).filter(PublicSurfaceTest::javaVisible).forEach(members::add);
        Stream.of(type.getDeclaredFields()).filter(PublicSurfaceTest::javaVisible).forEach(members::add);
        return members;
    }

    static boolean isEnumGetEntries(Member member) {
        return member instanceof Method && Modifier.isStatic(member.getModifiers())
            && member.getName().equals("getEntries") && ((Method) member).getParameterCount() == 0;
    }

    static boolean kotlinDoor(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getDeclaringClass()) {
            if (c.getName().equals(KOTLIN_DOOR)) return true;
        }
        return false;
    }

    // --- Kotlin types in signatures ----------------------------------------------------------------------

    static List<Type> signatureTypes(Member member) {
        List<Type> types = new ArrayList<>();
        if (member instanceof Field) {
            types.add(((Field) member).getGenericType());
        } else {
            Executable executable = (Executable) member;
            types.addAll(List.of(executable.getGenericParameterTypes()));
            types.addAll(List.of(executable.getParameterTypes())); // includes parameters generics leave out
            types.addAll(List.of(executable.getGenericExceptionTypes()));
            types.addAll(List.of(executable.getTypeParameters()));
            if (executable instanceof Method) types.add(((Method) executable).getGenericReturnType());
        }
        return types;
    }

    /** The first kotlin.* / kotlinx.* type named anywhere in {@code type}, or null. */
    static String kotlinTypeIn(Type type, Set<Type> seen) {
        if (!seen.add(type)) return null;
        if (type instanceof Class) {
            Class<?> c = (Class<?>) type;
            while (c.isArray()) c = c.getComponentType();
            String name = c.getName();
            return name.startsWith("kotlin.") || name.startsWith("kotlinx.") ? name : null;
        }
        List<Type> parts = new ArrayList<>();
        if (type instanceof ParameterizedType) {
            ParameterizedType p = (ParameterizedType) type;
            parts.add(p.getRawType());
            if (p.getOwnerType() != null) parts.add(p.getOwnerType());
            parts.addAll(List.of(p.getActualTypeArguments()));
        } else if (type instanceof WildcardType) {
            parts.addAll(List.of(((WildcardType) type).getUpperBounds()));
            parts.addAll(List.of(((WildcardType) type).getLowerBounds()));
        } else if (type instanceof GenericArrayType) {
            parts.add(((GenericArrayType) type).getGenericComponentType());
        } else if (type instanceof TypeVariable) {
            parts.addAll(List.of(((TypeVariable<?>) type).getBounds()));
        }
        for (Type part : parts) {
            String found = kotlinTypeIn(part, seen);
            if (found != null) return found;
        }
        return null;
    }

    // --- the ABI dump, read back -------------------------------------------------------------------------

    /** Class internal name -> its members as "name descriptor" (methods) or "field name descriptor". */
    static Map<String, Set<String>> parseDump(String dump) {
        Map<String, Set<String>> classes = new HashMap<>();
        Set<String> current = null;
        for (String line : dump.split("\n")) {
            if (line.isBlank() || line.equals("}")) continue;
            List<String> tokens = List.of(line.trim().split(" "));
            if (!line.startsWith("\t")) {
                int at = tokens.indexOf("class");
                current = new HashSet<>();
                classes.put(tokens.get(at + 1), current);
            } else if (current != null) {
                int fun = tokens.indexOf("fun");
                int field = tokens.indexOf("field");
                if (fun >= 0) current.add(tokens.get(fun + 1) + " " + tokens.get(fun + 2));
                else if (field >= 0) current.add("field " + tokens.get(field + 1) + " " + tokens.get(field + 2));
            }
        }
        return classes;
    }

    static String dumpKey(Member member) {
        if (member instanceof Field) {
            return "field " + member.getName() + " " + descriptor(((Field) member).getType());
        }
        Executable executable = (Executable) member;
        StringBuilder key = new StringBuilder(member instanceof Constructor ? "<init>" : member.getName()).append(" (");
        for (Class<?> parameter : executable.getParameterTypes()) key.append(descriptor(parameter));
        key.append(')');
        key.append(member instanceof Method ? descriptor(((Method) member).getReturnType()) : "V");
        return key.toString();
    }

    static String descriptor(Class<?> type) {
        if (type.isArray()) return "[" + descriptor(type.getComponentType());
        if (!type.isPrimitive()) return "L" + type.getName().replace('.', '/') + ";";
        if (type == void.class) return "V";
        if (type == boolean.class) return "Z";
        if (type == byte.class) return "B";
        if (type == char.class) return "C";
        if (type == short.class) return "S";
        if (type == int.class) return "I";
        if (type == long.class) return "J";
        if (type == float.class) return "F";
        return "D";
    }

    // --- reporting -----------------------------------------------------------------------------------------

    static String describe(Member member) {
        String kind = member instanceof Constructor ? "constructor" : member instanceof Field ? "field" : "method";
        String name = member instanceof Constructor ? "<init>" : member.getName();
        String signature = member instanceof Field ? ": " + ((Field) member).getGenericType().getTypeName()
            : "(" + Stream.of(((Executable) member).getGenericParameterTypes()).map(Type::getTypeName)
                .collect(Collectors.joining(", ")) + ")";
        return member.getDeclaringClass().getName() + "." + name + signature + " [" + kind + ", "
            + Modifier.toString(member.getModifiers()) + "]";
    }

    static void assertNone(String what, List<String> offenders) {
        if (!offenders.isEmpty()) {
            fail(offenders.size() + " " + what + ":\n  " + String.join("\n  ", new TreeSet<>(offenders)));
        }
    }
}
