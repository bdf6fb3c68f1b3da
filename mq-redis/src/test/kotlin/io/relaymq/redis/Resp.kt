package io.relaymq.redis

import java.net.Socket

/** One Redis command over a raw socket, for tests that look at Redis behind the bus's back; returns the reply's first line(s) as text. */
fun respCommand(port: Int, vararg args: String): String = Socket("127.0.0.1", port).use { socket ->
    socket.soTimeout = 10_000
    socket.getOutputStream().write(resp(*args))
    val buffer = ByteArray(65536)
    val n = socket.getInputStream().read(buffer)
    if (n <= 0) "" else String(buffer, 0, n).trim()
}

/** [args] as a RESP array of bulk strings. */
fun resp(vararg args: String): ByteArray {
    val command = StringBuilder("*${args.size}\r\n")
    for (arg in args) command.append("\$${arg.toByteArray().size}\r\n").append(arg).append("\r\n")
    return command.toString().toByteArray()
}
