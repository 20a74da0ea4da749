import BoxOfficeDomain
import HiredisClient

/// The queue's Lua scripts. Each runs atomically on the concert's slot, and reads time from Redis
/// (`TIME`) so instances with skewed clocks agree on every deadline.
public enum QueueScripts {
    /// Every queue script, for tools that run them outside the app (the benchmark's redis-benchmark baseline).
    public static var all: [RedisScript] { [issue, status, promote, line, extend, giveBack, end, snapshot, writeSettings, drained] }

    /// Shared helpers prepended to every script. `K` names the line's keys, which every queue script
    /// receives in KEYS in `QueueKeys.Line` order (a script touches no key it did not declare).
    private static let library = """
        local K = {}
        for i, name in ipairs({\(QueueKeys.Line.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))}) do K[name] = KEYS[i] end

        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        -- A token's record: its user, arrival sequence and issue time (ms); nil when unknown.
        local function token_user(token)
          local record = redis.call('HGET', K.tokens, token)
          if not record then return nil end
          return string.match(record, '^(%S+)')
        end

        -- Ends a token: out of every set, its record kept `ttl` seconds (`ended`, purged by the
        -- promoter) so a payment retry can still recognise it, and the user may take a new token.
        -- An admitted fan's time in its slot feeds the line's mean hold time (a moving average over
        -- about ten fans), which the waiters' estimates use. A waiter that ends (left, dropped) goes
        -- into the line's `gone` log (meta 'gone' counts them; the last 10,000 or more are kept),
        -- from which every instance's poll snapshot learns it (queue-snapshot).
        local function end_token(token, ttl, now)
          local user = token_user(token)
          if redis.call('ZREM', K.waiting, token) == 1 then
            local n = redis.call('HINCRBY', K.meta, 'gone', 1)
            redis.call('ZADD', K.gone, n, token)
            if n % 1000 == 0 then redis.call('ZREMRANGEBYSCORE', K.gone, '-inf', n - 10000) end
          end
          redis.call('ZREM', K.seen, token)
          local was_active = redis.call('ZREM', K.active, token) == 1
          if user then
            local admission = redis.call('HGET', K.admissions, token)
            if was_active and admission then
              local held = now - tonumber(string.match(admission, '^(%S+)'))
              local hold = tonumber(redis.call('HGET', K.meta, 'hold'))
              if hold then hold = hold + 0.1 * (held - hold) else hold = held end
              redis.call('HSET', K.meta, 'hold', tostring(hold))
            end
            redis.call('HDEL', K.streams, token)
            redis.call('ZADD', K.ended, now + ttl * 1000, token)
            if redis.call('HGET', K.users, user) == token then redis.call('HDEL', K.users, user) end
          end
        end

        -- Forgets up to 1,000 tokens whose records were kept long enough after they ended. A line
        -- left with only ended records stops being ticked (LiveLines), so then its records expire
        -- as a whole when the last of them is due; the next arrival keeps them again (keep_records).
        local function purge_ended(now, idle)
          local old = redis.call('ZRANGEBYSCORE', K.ended, '-inf', now, 'LIMIT', 0, 1000)
          if #old > 0 then
            redis.call('HDEL', K.tokens, unpack(old))
            redis.call('HDEL', K.admissions, unpack(old))
            redis.call('ZREM', K.ended, unpack(old))
          end
          if idle and redis.call('PTTL', K.ended) == -1 then
            local due = tonumber(redis.call('ZRANGE', K.ended, -1, -1, 'WITHSCORES')[2])
            for _, key in ipairs({K.tokens, K.admissions, K.ended}) do redis.call('PEXPIREAT', key, due + 1000) end
          end
        end

        local function keep_records()
          for _, key in ipairs({K.tokens, K.admissions, K.ended}) do redis.call('PERSIST', key) end
        end

        -- What the wait of the waiter at `rank` (1-based) rests on; QueueEstimator does the
        -- arithmetic: {now, last tick, banked credit, active count, the end (ms) of the active
        -- window whose slot that waiter's chain takes (0: a free slot), mean hold ms ('' before
        -- anyone left)}. The rank-th admission from now takes the slot of admission rank - capacity,
        -- and so on down to one of the first `capacity` admissions: the free slots, then the active
        -- windows in the order they end.
        local function line_inputs(rank, capacity, now)
          local meta = redis.call('HMGET', K.meta, 'lastTick', 'credit', 'hold')
          local active = redis.call('ZCARD', K.active)
          local slot_end = 0
          if rank > 0 and capacity > 0 then
            local j = ((rank - 1) % capacity) + 1 - (capacity - active)
            if j >= 1 then
              slot_end = tonumber(redis.call('ZRANGE', K.active, j - 1, j - 1, 'WITHSCORES')[2]) or 0
            end
          end
          return {now, tonumber(meta[1]) or now, meta[2] or '0', active, slot_end, meta[3] or ''}
        end

        -- When the sale opens (ms), 0 when it is open: the concert's settings hash, or for a shard of
        -- a split line (which cannot read shard 0's hash) the caller's `override`; '0' means open.
        local function opens_at(now, override)
          local at
          if override and override ~= '' then at = tonumber(override) else at = tonumber(redis.call('HGET', K.settings, 'opensAt')) end
          if at and at > now then return at end
          return 0
        end

        -- {state, user, position, activeUntil (ACTIVE) or the place in line (WAITING: its score in
        -- `waiting`, as text), opensAt}, and for a waiter in an open line line_inputs' six fields
        -- after them; state is WAITING, ACTIVE, ENDED or UNKNOWN; opensAt (ms) is 0 once the sale is
        -- open. A waiter that asks is alive: `touch` refreshes it.
        local function describe(token, now, touch, opening, capacity)
          local user = token_user(token)
          if not user then return {'UNKNOWN', '', 0, 0, 0} end
          local place = redis.call('ZSCORE', K.waiting, token)
          if place then
            local rank = redis.call('ZRANK', K.waiting, token)
            if touch then redis.call('ZADD', K.seen, 'XX', now, token) end
            local d = {'WAITING', user, rank + 1, place, opening}
            if opening == 0 then
              for _, v in ipairs(line_inputs(rank + 1, capacity, now)) do d[#d + 1] = v end
            end
            return d
          end
          local expiry = tonumber(redis.call('ZSCORE', K.active, token))
          if expiry and expiry > now then return {'ACTIVE', user, 0, expiry, 0} end
          return {'ENDED', user, 0, 0, 0}
        end

        """

    /// ARGV: userId, candidate token, default maxWaiting (0: no limit; the concert's
    /// settings hash overrides it, unless ARGV[4] is '1': a shard of a split line, whose share of
    /// the cap the caller computed), a random number in [0, 1) from the caller's cryptographic
    /// generator, for a shard of a split line the opening time (ms, '0' when open), and the line's
    /// (or shard's) active capacity for the wait estimate, and '1' to return only a live token the
    /// user has (a request without a valid proof of work, see ProofOfWork).
    /// Before the opening, an arrival's place is that random number below every arrival after it
    /// (the line's scores: -1 + r before, the arrival sequence ≥ 1 after): at the opening everyone
    /// who came early stands in a uniformly random order, decided once at arrival, ahead of the rest.
    /// Returns {token, isNew, describe...}, or {'', -1} when the line is full, {'', -2} when only a
    /// live token was asked for (the user had no live token in either case).
    static let issue = RedisScript(name: "queue-issue", source: library + """
        local user, candidate = ARGV[1], ARGV[2]
        local capacity = tonumber(ARGV[7]) or 0
        local now = now_ms()
        local opening = opens_at(now, ARGV[6])
        local existing = redis.call('HGET', K.users, user)
        if existing then
          local d = describe(existing, now, true, opening, capacity)
          if d[1] == 'WAITING' or d[1] == 'ACTIVE' then
            table.insert(d, 1, 0)
            table.insert(d, 1, existing)
            return d
          end
        end
        if ARGV[8] == '1' then return {'', -2} end
        local max_waiting = tonumber(ARGV[3]) or 0
        if ARGV[4] ~= '1' then
          max_waiting = tonumber(redis.call('HGET', K.settings, 'maxWaiting')) or max_waiting
        end
        if max_waiting > 0 and redis.call('ZCARD', K.waiting) >= max_waiting then return {'', -1} end
        local seq = redis.call('INCR', K.seq)
        keep_records()
        local place = seq
        if opening > 0 then place = -1 + (tonumber(ARGV[5]) or 0) end
        redis.call('HSET', K.tokens, candidate, user .. ' ' .. seq .. ' ' .. now)
        redis.call('ZADD', K.waiting, place, candidate)
        redis.call('ZADD', K.seen, now, candidate)
        redis.call('HSET', K.users, user, candidate)
        local d = describe(candidate, now, false, opening, capacity)
        table.insert(d, 1, 1)
        table.insert(d, 1, candidate)
        return d
        """)

    /// ARGV: token, touch (1/0), the opening time of a shard of a split line ('' for one
    /// line), the line's (or shard's) active capacity, and for an event stream its id and claim
    /// (1/0). Returns {superseded, describe...}: superseded is 1 when another stream has claimed
    /// the live token since (one stream per token, whichever instance serves it), else 0.
    static let status = RedisScript(name: "queue-status", source: library + """
        local token, stream = ARGV[1], ARGV[5]
        local now = now_ms()
        local d = describe(token, now, ARGV[2] == '1', opens_at(now, ARGV[3]), tonumber(ARGV[4]) or 0)
        local superseded = 0
        if stream and (d[1] == 'WAITING' or d[1] == 'ACTIVE') then
          if ARGV[6] == '1' then
            redis.call('HSET', K.streams, token, stream)
          elseif redis.call('HGET', K.streams, token) ~= stream then
            superseded = 1
          end
        end
        table.insert(d, 1, superseded)
        return d
        """)

    /// One promotion tick. ARGV: default capacity, default admissions/s, idle ms, active ms,
    /// ended-token ttl s; the concert's settings hash overrides the first four when it has them,
    /// unless ARGV[6] is '1': one shard of a split line, whose share of capacity and rate, paused
    /// flag (ARGV[7]) and opening time (ARGV[8], ms) the caller read from shard 0's settings hash.
    /// Before the opening nobody is admitted and no credit builds up. ARGV[9] is '1' while no
    /// seat of the concert is free (sold out, or all held): then too nobody is admitted (PostgreSQL
    /// decides it, see ConcertDirectory).
    /// A tick of an empty line whose measured rate has decayed to 0 writes nothing.
    /// Returns {admitted, expired, dropped, waiting, active, measured admissions per 1,000 s, the
    /// configured admissions per 1,000 s, capacity, active seconds, paused (1/0)}, then for the last
    /// waiter line_inputs' six fields (the time the line needs to drain).
    static let promote = RedisScript(name: "queue-promote", source: library + """
        local idle_ms, active_ms, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
        local now = now_ms()
        local s
        if ARGV[6] == '1' then
          s = {ARGV[7], false, false, false, false}
        else
          s = redis.call('HMGET', K.settings, 'paused', 'activeCapacity', 'admitPerSecond',
                         'activeSeconds', 'waitingIdleSeconds')
        end
        local paused = s[1] == '1' or s[1] == 'true' or s[1] == 'yes' or ARGV[9] == '1'
        if opens_at(now, ARGV[6] == '1' and (ARGV[8] or '0') or nil) > 0 then paused = true end
        local capacity = tonumber(s[2]) or tonumber(ARGV[1])
        local rate = tonumber(s[3]) or tonumber(ARGV[2])
        if tonumber(s[4]) then active_ms = tonumber(s[4]) * 1000 end
        if tonumber(s[5]) then idle_ms = tonumber(s[5]) * 1000 end

        -- 1. Active windows that ended free their slots.
        local expired = redis.call('ZRANGEBYSCORE', K.active, '-inf', now, 'LIMIT', 0, 1000)
        for _, token in ipairs(expired) do end_token(token, ttl, now) end

        -- 2. Waiters that stopped polling are dropped before they could take a slot.
        local idle = redis.call('ZRANGEBYSCORE', K.seen, '-inf', now - idle_ms, 'LIMIT', 0, 1000)
        for _, token in ipairs(idle) do end_token(token, ttl, now) end

        -- 3. Admit in arrival order, at most rate x elapsed (the tick clock lives here, so the
        -- total rate is the configured one however many instances tick) and at most the free slots.
        local meta = redis.call('HMGET', K.meta, 'lastTick', 'credit', 'rate')
        local last = tonumber(meta[1]) or now
        local credit = tonumber(meta[2]) or 0
        local measured = tonumber(meta[3]) or 0
        local elapsed = now - last
        if elapsed < 0 then elapsed = 0 end
        local waiting = redis.call('ZCARD', K.waiting)
        credit = credit + rate * elapsed / 1000
        -- Bank at most one second of admissions (or one admission at very low rates).
        local bank = math.max(1, rate)
        if credit > bank then credit = bank end
        local admitted = 0
        if paused then
          credit = 0
        elseif waiting > 0 then
          local free = capacity - redis.call('ZCARD', K.active)
          local n = math.min(math.floor(credit), free, waiting)
          if n > 0 then
            local tokens = redis.call('ZRANGE', K.waiting, 0, n - 1)
            local expiry = now + active_ms
            for _, token in ipairs(tokens) do
              redis.call('ZREM', K.waiting, token)
              redis.call('ZREM', K.seen, token)
              redis.call('ZADD', K.active, expiry, token)
              -- admittedUntil bounds every later extension (see queue-extend).
              redis.call('HSET', K.admissions, token, now .. ' ' .. expiry)
            end
            admitted = #tokens
            credit = credit - admitted
            -- When anyone was last admitted: the operator alert for a stalled line reads it.
            redis.call('HSET', K.meta, 'lastAdmit', now)
          end
        end
        -- Measured admission rate: moving average (about 10 s) over every tick, so it falls to 0
        -- when nobody is admitted (an empty, paused or full line). No estimate reads it any more:
        -- promises come from the configured rate (QueueEstimator); it is the operator's figure.
        if elapsed > 0 then
          local alpha = 1 - math.exp(-elapsed / 10000)
          measured = measured + alpha * (admitted * 1000 / elapsed - measured)
          if measured < 0.001 then measured = 0 end
        end
        local active = redis.call('ZCARD', K.active)
        purge_ended(now, waiting - admitted + active == 0)
        -- A line with nobody in it and nothing measured left to decay writes nothing: its next tick
        -- after an arrival computes the same credit from the older lastTick (banked at most a second).
        if waiting + active + #expired + #idle > 0 or measured > 0 or tonumber(meta[3] or '0') ~= 0 then
          redis.call('HSET', K.meta, 'lastTick', now, 'credit', tostring(credit), 'rate', tostring(measured))
        end
        local result = {admitted, #expired, #idle, waiting - admitted, active,
                        math.floor(measured * 1000), math.floor(rate * 1000), capacity, math.floor(active_ms / 1000), paused and 1 or 0}
        for _, v in ipairs(line_inputs(waiting - admitted, capacity, now)) do result[#result + 1] = v end
        return result
        """)

    /// A line's figures for the operator. ARGV: the line's (or shard's) active capacity.
    /// Returns {waiting, measured admissions per second}, then for the last waiter line_inputs' six fields.
    static let line = RedisScript(name: "queue-line", source: library + """
        local waiting = redis.call('ZCARD', K.waiting)
        local result = {waiting, redis.call('HGET', K.meta, 'rate') or '0'}
        for _, v in ipairs(line_inputs(waiting, tonumber(ARGV[1]) or 0, now_ms())) do result[#result + 1] = v end
        return result
        """)

    /// Keeps an ACTIVE token alive for ARGV[2] more milliseconds (from Redis TIME), but never past
    /// the end of its admission window plus ARGV[2]: whatever a user sends, a slot is kept at most
    /// one hold longer than the admission gave (Docs/api.md, "The waiting line"). ARGV: token, milliseconds. Returns {activeUntil, activeUntil before} in ms, or {0, 0} when the token is
    /// not ACTIVE any more.
    static let extend = RedisScript(name: "queue-extend", source: library + """
        local token, ms = ARGV[1], tonumber(ARGV[2])
        local now = now_ms()
        local current = tonumber(redis.call('ZSCORE', K.active, token))
        if not current or current <= now then return {0, 0} end
        local target = now + ms
        local admission = redis.call('HGET', K.admissions, token)
        local admitted_until = admission and tonumber(string.match(admission, '(%S+)$'))
        if admitted_until and target > admitted_until + ms then target = admitted_until + ms end
        if target > current then
          redis.call('ZADD', K.active, target, token)
          return {target, current}
        end
        return {current, current}
        """)

    /// Takes back an extension whose hold was refused: the window returns to ARGV[3] if it is
    /// still ARGV[2] (what queue-extend set; a later extension stays). ARGV: token,
    /// extended until ms, previous until ms.
    static let giveBack = RedisScript(name: "queue-give-back", source: library + """
        local token = ARGV[1]
        local extended, previous = tonumber(ARGV[2]), tonumber(ARGV[3])
        if extended ~= previous and tonumber(redis.call('ZSCORE', K.active, token)) == extended then
          redis.call('ZADD', K.active, 'XX', previous, token)
        end
        return 1
        """)

    /// What an instance needs to answer its waiters' polls for a while without a script each
    /// (QueueSnapshots), and the idle-drop bookkeeping of the polls it answered so. ARGV: the
    /// opening time of a shard of a split line ('' for one line), the `gone` count the instance has
    /// seen (-1: none yet), the most samples of the line, the most active window ends, then the
    /// tokens whose waiters polled since the last snapshot (they are alive: `seen` is refreshed,
    /// XX, so a token admitted or ended meanwhile stays out). Returns {now, opensAt (0 open),
    /// lastTick, credit, active, mean hold ('' before anyone left), waiting, step, gone count, reset
    /// (1: the instance missed part of the gone log, or Redis lost it), {the scores at ranks 0,
    /// step, 2 step, ...}, the last waiter's score, {the active windows' ends in order, or none when
    /// more than the most}, {the tokens gone since the count the instance has seen}}.
    static let snapshot = RedisScript(name: "queue-snapshot", source: library + """
        local now = now_ms()
        for i = 5, #ARGV do redis.call('ZADD', K.seen, 'XX', now, ARGV[i]) end
        local opening = opens_at(now, ARGV[1])
        local meta = redis.call('HMGET', K.meta, 'lastTick', 'credit', 'hold', 'gone')
        local waiting = redis.call('ZCARD', K.waiting)
        local step = math.max(1, math.ceil(waiting / math.max(1, tonumber(ARGV[3]))))
        local samples = {}
        for r = 0, waiting - 1, step do
          samples[#samples + 1] = redis.call('ZRANGE', K.waiting, r, r, 'WITHSCORES')[2]
        end
        local last = ''
        if waiting > 0 then last = redis.call('ZRANGE', K.waiting, -1, -1, 'WITHSCORES')[2] end
        local active = redis.call('ZCARD', K.active)
        local ends = {}
        if active <= tonumber(ARGV[4]) then
          local windows = redis.call('ZRANGE', K.active, 0, -1, 'WITHSCORES')
          for i = 2, #windows, 2 do ends[#ends + 1] = windows[i] end
        end
        local total, seen = tonumber(meta[4]) or 0, tonumber(ARGV[2])
        local reset, gone = 0, {}
        if seen < 0 or seen > total or total - seen > 10000 then
          reset = 1
        elseif seen < total then
          gone = redis.call('ZRANGEBYSCORE', K.gone, '(' .. seen, '+inf')
        end
        return {now, opening, tonumber(meta[1]) or now, meta[2] or '0', active, meta[3] or '', waiting, step, total, reset,
                samples, last, ends, gone}
        """)

    /// Writes a concert's settings hash (the admin API). KEYS: shard 0's settings and waiting. ARGV:
    /// '1' to refuse when anyone waits who arrived while the sale was open (scheduling an opening
    /// would put them behind everyone who arrives during the countdown), the number of fields to
    /// set, the field/value pairs, then the fields to delete. Returns {1, 0} when written, or {0,
    /// the number of such waiters}.
    static let writeSettings = RedisScript(name: "queue-write-settings", source: """
        if ARGV[1] == '1' then
          local arrived_open = redis.call('ZCOUNT', KEYS[2], 1, '+inf')
          if arrived_open > 0 then return {0, arrived_open} end
        end
        local n = tonumber(ARGV[2])
        if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n)) end
        for i = 3 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
        return {1, 0}
        """)

    /// The shards of the count before a change of `queueShards` are drained: forgets that count,
    /// unless another change has been made since. KEYS: the settings hash. ARGV: the change's time (ms).
    static let drained = RedisScript(name: "queue-shards-drained", source: """
        if redis.call('HGET', KEYS[1], 'queueShardsChangedAt') == ARGV[1] then
          return redis.call('HDEL', KEYS[1], 'queueShardsBefore', 'queueShardsChangedAt')
        end
        return 0
        """)

    /// Ends a token at once (after payment or when its fan leaves). ARGV: token, ended-token ttl s.
    static let end = RedisScript(name: "queue-end", source: library + """
        end_token(ARGV[1], tonumber(ARGV[2]), now_ms())
        return 1
        """)
}
