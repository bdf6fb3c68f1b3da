package io.relaymq.redis.internal

/**
 * The Lua scripts behind every step that must be atomic in Redis. Keys of one queue share the hash tag
 * `{queue}`. Each script's contract is beside it; [RedisQueue] says when each runs.
 */
internal object RedisScripts {
    /**
     * Publish a batch. KEYS: stream, delayed, ids. ARGV: capacity (0: unbounded), then per message its
     * due time (epoch ms, 0: now) and record. Returns one value per message, in order: its new id, or -1
     * when the queue held `capacity` messages (ready, handed out or delayed) at its turn: that one was
     * not stored. Ids come from one INCRBY (a refused message leaves a gap). Due in the future by
     * Redis's clock: into the sorted set; else appended to the stream, in ARGV order.
     */
    val PUBLISH = """
        local cap = tonumber(ARGV[1])
        local n = (#ARGV - 1) / 2
        local first = redis.call('INCRBY', KEYS[3], n) - n
        local length = 0
        if cap > 0 then length = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) end
        local now = -1
        local out = {}
        for i = 1, n do
          local due = tonumber(ARGV[2 * i])
          local record = ARGV[2 * i + 1]
          if cap > 0 and length >= cap then
            out[i] = -1
          else
            local id = string.format('%d', first + i)
            if due > 0 and now < 0 then
              local t = redis.call('TIME')
              now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            end
            if due > 0 and due > now then
              redis.call('ZADD', KEYS[2], due, id .. ':' .. record)
            else
              redis.call('XADD', KEYS[1], '*', 'i', id, 'm', record)
            end
            length = length + 1
            out[i] = first + i
          end
        end
        return out
    """.trimIndent()

    /**
     * Promote due delayed messages. KEYS: stream, delayed. ARGV: at most how many. Moves each member due
     * by Redis's clock into the stream (same id and record) and removes it from the set, in due order.
     * Returns the millis until the next one is due, or -1 when none waits.
     */
    val PROMOTE = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
        for _, member in ipairs(due) do
          local sep = string.find(member, ':', 1, true)
          if sep == nil or sep == 1 then
            redis.log(redis.LOG_WARNING, 'RelayMQ: removed a member of ' .. KEYS[2] .. ' that is not a RelayMQ message')
          else
            redis.call('XADD', KEYS[1], '*', 'i', string.sub(member, 1, sep - 1), 'm', string.sub(member, sep + 1))
          end
          redis.call('ZREM', KEYS[2], member)
        end
        local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
        if nxt[2] == nil then return -1 end
        local wait = tonumber(nxt[2]) - now
        if wait < 0 then return 0 end
        return wait
    """.trimIndent()

    /** Acknowledge. KEYS: stream. ARGV: group, entry ids. Ends them for good: XACK, then XDEL. Returns how many were pending. */
    val ACKNOWLEDGE = """
        local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
        redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
        return n
    """.trimIndent()

    /**
     * Release. KEYS: stream. ARGV: group, consumer, entry ids. Each entry this consumer still holds is
     * added again at the stream's end (same fields: id and record) and the old entry ended, so any
     * consumer can take it at once. Entries held by another consumer now (taken over) are left alone.
     * Returns how many were released.
     */
    val RELEASE = """
        local group, me = ARGV[1], ARGV[2]
        local n = 0
        for i = 3, #ARGV do
          local p = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)
          if p[1] ~= nil and p[1][2] == me then
            local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
            if e[1] ~= nil then
              redis.call('XADD', KEYS[1], '*', unpack(e[1][2]))
            end
            redis.call('XACK', KEYS[1], group, ARGV[i])
            redis.call('XDEL', KEYS[1], ARGV[i])
            n = n + 1
          end
        end
        return n
    """.trimIndent()

    /**
     * Extend. KEYS: stream. ARGV: group, consumer, entry ids. Renews this consumer's claim on each entry it
     * still holds (XCLAIM with min-idle 0 resets its idle time; JUSTID leaves the delivery count).
     * Returns the ids it no longer holds (taken over, or gone).
     */
    val EXTEND = """
        local group, me = ARGV[1], ARGV[2]
        local lost = {}
        for i = 3, #ARGV do
          local p = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)
          if p[1] ~= nil and p[1][2] == me then
            redis.call('XCLAIM', KEYS[1], group, me, 0, ARGV[i], 'JUSTID')
          else
            lost[#lost + 1] = ARGV[i]
          end
        end
        return lost
    """.trimIndent()

    /**
     * Retry. KEYS: stream, delayed. ARGV: group, consumer, entry id, message id, due (epoch ms), record.
     * If this consumer still holds the entry: ends it (XACK, XDEL) and adds the message (same id, the
     * record of its next attempt) to the delayed set, due at `due` (PROMOTE moves it to the stream then).
     * Returns 1, or 0 when another consumer holds it now (nothing changed).
     */
    val RETRY = """
        local group, me = ARGV[1], ARGV[2]
        local p = redis.call('XPENDING', KEYS[1], group, ARGV[3], ARGV[3], 1)
        if p[1] == nil or p[1][2] ~= me then return 0 end
        redis.call('XACK', KEYS[1], group, ARGV[3])
        redis.call('XDEL', KEYS[1], ARGV[3])
        redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), ARGV[4] .. ':' .. ARGV[6])
        return 1
    """.trimIndent()

    /** Reply. KEYS: reply list. ARGV: outcome (8-byte correlation first), time to live in ms. */
    val REPLY = """
        redis.call('RPUSH', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
        return 1
    """.trimIndent()
}
