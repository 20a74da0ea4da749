import HiredisClient

/// The queue's Lua scripts. Each runs atomically on the concert's slot, and reads time from Redis
/// (`TIME`) so instances with skewed clocks agree on every deadline.
public enum QueueScripts {
    /// Every queue script, for tools that run them outside the app (the benchmark's redis-benchmark baseline).
    public static var all: [RedisScript] { [issue, status, promote, line, extend, giveBack, end, snapshot] }

    /// Shared helpers prepended to every script.
    private static let library = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        -- Ends a token: out of every set, status ENDED, kept `ttl` seconds so a payment retry
        -- can still recognise it, and the user may take a new token. An admitted fan's time in its
        -- slot feeds the line's mean hold time (a moving average over about ten fans), which the
        -- waiters' estimates use. A waiter that ends (left, dropped) goes into the line's `gone` log
        -- (meta 'gone' counts them; the last 10,000 or more are kept), from which every instance's
        -- poll snapshot learns it (queue-snapshot).
        local function end_token(prefix, token, ttl, now)
          local tkey = prefix .. 'token:' .. token
          local h = redis.call('HMGET', tkey, 'user', 'status', 'admitted')
          local user = h[1]
          if h[2] == 'WAITING' then
            local n = redis.call('HINCRBY', prefix .. 'meta', 'gone', 1)
            redis.call('ZADD', prefix .. 'gone', n, token)
            if n % 1000 == 0 then redis.call('ZREMRANGEBYSCORE', prefix .. 'gone', '-inf', n - 10000) end
          end
          redis.call('ZREM', prefix .. 'waiting', token)
          redis.call('ZREM', prefix .. 'seen', token)
          redis.call('ZREM', prefix .. 'active', token)
          if user then
            if h[2] == 'ACTIVE' and tonumber(h[3]) then
              local held = now - tonumber(h[3])
              local hold = tonumber(redis.call('HGET', prefix .. 'meta', 'hold'))
              if hold then hold = hold + 0.1 * (held - hold) else hold = held end
              redis.call('HSET', prefix .. 'meta', 'hold', tostring(hold))
            end
            redis.call('HSET', tkey, 'status', 'ENDED')
            redis.call('EXPIRE', tkey, ttl)
            local ukey = prefix .. 'user:' .. user
            if redis.call('GET', ukey) == token then redis.call('DEL', ukey) end
          end
        end

        -- What the wait of the waiter at `rank` (1-based) rests on; QueueEstimator does the
        -- arithmetic: {now, last tick, banked credit, active count, the end (ms) of the active
        -- window whose slot that waiter's chain takes (0: a free slot), mean hold ms ('' before
        -- anyone left)}. The rank-th admission from now takes the slot of admission rank - capacity,
        -- and so on down to one of the first `capacity` admissions: the free slots, then the active
        -- windows in the order they end.
        local function line_inputs(prefix, rank, capacity, now)
          local meta = redis.call('HMGET', prefix .. 'meta', 'lastTick', 'credit', 'hold')
          local active = redis.call('ZCARD', prefix .. 'active')
          local slot_end = 0
          if rank > 0 and capacity > 0 then
            local j = ((rank - 1) % capacity) + 1 - (capacity - active)
            if j >= 1 then
              slot_end = tonumber(redis.call('ZRANGE', prefix .. 'active', j - 1, j - 1, 'WITHSCORES')[2]) or 0
            end
          end
          return {now, tonumber(meta[1]) or now, meta[2] or '0', active, slot_end, meta[3] or ''}
        end

        -- When the sale opens (ms), 0 when it is open: the concert's settings hash, or for a shard of
        -- a split line (which cannot read shard 0's hash) the caller's `override`; '0' means open.
        local function opens_at(prefix, now, override)
          local at
          if override and override ~= '' then at = tonumber(override) else at = tonumber(redis.call('HGET', prefix .. 'settings', 'opensAt')) end
          if at and at > now then return at end
          return 0
        end

        -- {state, user, position, activeUntil (ACTIVE) or the place in line (WAITING: its score in
        -- `waiting`, as text), opensAt}, and for a waiter in an open line line_inputs' six fields
        -- after them; state is WAITING, ACTIVE, ENDED or UNKNOWN; opensAt (ms) is 0 once the sale is
        -- open. A waiter that asks is alive: `touch` refreshes it.
        local function describe(prefix, token, now, touch, opening, capacity)
          local tkey = prefix .. 'token:' .. token
          local h = redis.call('HMGET', tkey, 'user', 'status')
          if not h[1] then return {'UNKNOWN', '', 0, 0, 0} end
          if h[2] == 'WAITING' then
            local rank = redis.call('ZRANK', prefix .. 'waiting', token)
            if not rank then return {'ENDED', h[1], 0, 0, 0} end
            if touch then redis.call('ZADD', prefix .. 'seen', 'XX', now, token) end
            local d = {'WAITING', h[1], rank + 1, redis.call('ZSCORE', prefix .. 'waiting', token), opening}
            if opening == 0 then
              for _, v in ipairs(line_inputs(prefix, rank + 1, capacity, now)) do d[#d + 1] = v end
            end
            return d
          elseif h[2] == 'ACTIVE' then
            local expiry = redis.call('ZSCORE', prefix .. 'active', token)
            if (not expiry) or tonumber(expiry) <= now then return {'ENDED', h[1], 0, 0, 0} end
            return {'ACTIVE', h[1], 0, tonumber(expiry), 0}
          end
          return {'ENDED', h[1], 0, 0, 0}
        end

        """

    /// ARGV: prefix, userId, candidate token, default maxWaiting (0: no limit; the concert's
    /// settings hash overrides it, unless ARGV[5] is '1': a shard of a split line, whose share of
    /// the cap the caller computed), a random number in [0, 1) from the caller's cryptographic
    /// generator, for a shard of a split line the opening time (ms, '0' when open), and the line's
    /// (or shard's) active capacity for the wait estimate.
    /// Before the opening, an arrival's place is that random number below every arrival after it
    /// (the line's scores: -1 + r before, the arrival sequence ≥ 1 after): at the opening everyone
    /// who came early stands in a uniformly random order, decided once at arrival, ahead of the rest.
    /// Returns {token, isNew, describe...}, or {'', -1} when the line is full (the user had no live token).
    static let issue = RedisScript(name: "queue-issue", source: library + """
        local prefix, user, candidate = ARGV[1], ARGV[2], ARGV[3]
        local capacity = tonumber(ARGV[8]) or 0
        local now = now_ms()
        local opening = opens_at(prefix, now, ARGV[7])
        local ukey = prefix .. 'user:' .. user
        local existing = redis.call('GET', ukey)
        if existing then
          local d = describe(prefix, existing, now, true, opening, capacity)
          if d[1] == 'WAITING' or d[1] == 'ACTIVE' then
            table.insert(d, 1, 0)
            table.insert(d, 1, existing)
            return d
          end
        end
        local max_waiting = tonumber(ARGV[4]) or 0
        if ARGV[5] ~= '1' then
          max_waiting = tonumber(redis.call('HGET', prefix .. 'settings', 'maxWaiting')) or max_waiting
        end
        if max_waiting > 0 and redis.call('ZCARD', prefix .. 'waiting') >= max_waiting then return {'', -1} end
        local seq = redis.call('INCR', prefix .. 'seq')
        local place = seq
        if opening > 0 then place = -1 + (tonumber(ARGV[6]) or 0) end
        redis.call('HSET', prefix .. 'token:' .. candidate, 'user', user, 'status', 'WAITING', 'seq', seq, 'issued', now)
        redis.call('ZADD', prefix .. 'waiting', place, candidate)
        redis.call('ZADD', prefix .. 'seen', now, candidate)
        redis.call('SET', ukey, candidate)
        local d = describe(prefix, candidate, now, false, opening, capacity)
        table.insert(d, 1, 1)
        table.insert(d, 1, candidate)
        return d
        """)

    /// ARGV: prefix, token, touch (1/0), the opening time of a shard of a split line ('' for one
    /// line), the line's (or shard's) active capacity, and for an event stream its id and claim
    /// (1/0). Returns {superseded, describe...}: superseded is 1 when another stream has claimed
    /// the live token since (one stream per token, whichever instance serves it), else 0.
    static let status = RedisScript(name: "queue-status", source: library + """
        local prefix, token, stream = ARGV[1], ARGV[2], ARGV[6]
        local now = now_ms()
        local d = describe(prefix, token, now, ARGV[3] == '1', opens_at(prefix, now, ARGV[4]), tonumber(ARGV[5]) or 0)
        local superseded = 0
        if stream and (d[1] == 'WAITING' or d[1] == 'ACTIVE') then
          local tkey = prefix .. 'token:' .. token
          if ARGV[7] == '1' then
            redis.call('HSET', tkey, 'stream', stream)
          elseif redis.call('HGET', tkey, 'stream') ~= stream then
            superseded = 1
          end
        end
        table.insert(d, 1, superseded)
        return d
        """)

    /// One promotion tick. ARGV: prefix, default capacity, default admissions/s, idle ms, active ms,
    /// ended-token ttl s; the concert's settings hash overrides the first four when it has them,
    /// unless ARGV[7] is '1': one shard of a split line, whose share of capacity and rate, paused
    /// flag (ARGV[8]) and opening time (ARGV[9], ms) the caller read from shard 0's settings hash.
    /// Before the opening nobody is admitted and no credit builds up. ARGV[10] is '1' while the
    /// concert is sold out: then too nobody is admitted (PostgreSQL decides it, see ConcertDirectory).
    /// A tick of an empty line whose measured rate has decayed to 0 writes nothing.
    /// Returns {admitted, expired, dropped, waiting, active, measured admissions per 1,000 s, the
    /// configured admissions per 1,000 s, capacity, active seconds, paused (1/0)}, then for the last
    /// waiter line_inputs' six fields (the time the line needs to drain).
    static let promote = RedisScript(name: "queue-promote", source: library + """
        local prefix = ARGV[1]
        local idle_ms, active_ms, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local now = now_ms()
        local s
        if ARGV[7] == '1' then
          s = {ARGV[8], false, false, false, false}
        else
          s = redis.call('HMGET', prefix .. 'settings', 'paused', 'activeCapacity', 'admitPerSecond',
                         'activeSeconds', 'waitingIdleSeconds')
        end
        local paused = s[1] == '1' or s[1] == 'true' or s[1] == 'yes' or ARGV[10] == '1'
        if opens_at(prefix, now, ARGV[7] == '1' and (ARGV[9] or '0') or nil) > 0 then paused = true end
        local capacity = tonumber(s[2]) or tonumber(ARGV[2])
        local rate = tonumber(s[3]) or tonumber(ARGV[3])
        if tonumber(s[4]) then active_ms = tonumber(s[4]) * 1000 end
        if tonumber(s[5]) then idle_ms = tonumber(s[5]) * 1000 end

        -- 1. Active windows that ended free their slots.
        local expired = redis.call('ZRANGEBYSCORE', prefix .. 'active', '-inf', now, 'LIMIT', 0, 1000)
        for _, token in ipairs(expired) do end_token(prefix, token, ttl, now) end

        -- 2. Waiters that stopped polling are dropped before they could take a slot.
        local idle = redis.call('ZRANGEBYSCORE', prefix .. 'seen', '-inf', now - idle_ms, 'LIMIT', 0, 1000)
        for _, token in ipairs(idle) do end_token(prefix, token, ttl, now) end

        -- 3. Admit in arrival order, at most rate x elapsed (the tick clock lives here, so the
        -- total rate is the configured one however many instances tick) and at most the free slots.
        local meta = redis.call('HMGET', prefix .. 'meta', 'lastTick', 'credit', 'rate')
        local last = tonumber(meta[1]) or now
        local credit = tonumber(meta[2]) or 0
        local measured = tonumber(meta[3]) or 0
        local elapsed = now - last
        if elapsed < 0 then elapsed = 0 end
        local waiting = redis.call('ZCARD', prefix .. 'waiting')
        credit = credit + rate * elapsed / 1000
        -- Bank at most one second of admissions (or one admission at very low rates).
        local bank = math.max(1, rate)
        if credit > bank then credit = bank end
        local admitted = 0
        if paused then
          credit = 0
        elseif waiting > 0 then
          local free = capacity - redis.call('ZCARD', prefix .. 'active')
          local n = math.min(math.floor(credit), free, waiting)
          if n > 0 then
            local tokens = redis.call('ZRANGE', prefix .. 'waiting', 0, n - 1)
            local expiry = now + active_ms
            for _, token in ipairs(tokens) do
              redis.call('ZREM', prefix .. 'waiting', token)
              redis.call('ZREM', prefix .. 'seen', token)
              redis.call('ZADD', prefix .. 'active', expiry, token)
              -- admittedUntil bounds every later extension (see queue-extend).
              redis.call('HSET', prefix .. 'token:' .. token, 'status', 'ACTIVE', 'activeUntil', expiry, 'admittedUntil', expiry,
                         'admitted', now)
            end
            admitted = #tokens
            credit = credit - admitted
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
        local active = redis.call('ZCARD', prefix .. 'active')
        -- A line with nobody in it and nothing measured left to decay writes nothing: its next tick
        -- after an arrival computes the same credit from the older lastTick (banked at most a second).
        if waiting + active + #expired + #idle > 0 or measured > 0 or tonumber(meta[3] or '0') ~= 0 then
          redis.call('HSET', prefix .. 'meta', 'lastTick', now, 'credit', tostring(credit), 'rate', tostring(measured))
        end
        local result = {admitted, #expired, #idle, waiting - admitted, active,
                        math.floor(measured * 1000), math.floor(rate * 1000), capacity, math.floor(active_ms / 1000), paused and 1 or 0}
        for _, v in ipairs(line_inputs(prefix, waiting - admitted, capacity, now)) do result[#result + 1] = v end
        return result
        """)

    /// A line's figures for the operator. ARGV: prefix, the line's (or shard's) active capacity.
    /// Returns {waiting, measured admissions per second}, then for the last waiter line_inputs' six fields.
    static let line = RedisScript(name: "queue-line", source: library + """
        local prefix = ARGV[1]
        local waiting = redis.call('ZCARD', prefix .. 'waiting')
        local result = {waiting, redis.call('HGET', prefix .. 'meta', 'rate') or '0'}
        for _, v in ipairs(line_inputs(prefix, waiting, tonumber(ARGV[2]) or 0, now_ms())) do result[#result + 1] = v end
        return result
        """)

    /// Keeps an ACTIVE token alive for ARGV[3] more milliseconds (from Redis TIME), but never past
    /// the end of its admission window plus ARGV[3]: whatever a user sends, a slot is kept at most
    /// one hold longer than the admission gave (API.md, Reservations). ARGV: prefix, token,
    /// milliseconds. Returns {activeUntil, activeUntil before} in ms, or {0, 0} when the token is
    /// not ACTIVE any more.
    static let extend = RedisScript(name: "queue-extend", source: library + """
        local prefix, token, ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local tkey = prefix .. 'token:' .. token
        local h = redis.call('HMGET', tkey, 'status', 'admittedUntil')
        if h[1] ~= 'ACTIVE' then return {0, 0} end
        local now = now_ms()
        local current = tonumber(redis.call('ZSCORE', prefix .. 'active', token))
        if not current or current <= now then return {0, 0} end
        local target = now + ms
        local admitted_until = tonumber(h[2])
        if admitted_until and target > admitted_until + ms then target = admitted_until + ms end
        if target > current then
          redis.call('ZADD', prefix .. 'active', target, token)
          redis.call('HSET', tkey, 'activeUntil', target)
          return {target, current}
        end
        return {current, current}
        """)

    /// Takes back an extension whose hold was refused: the window returns to ARGV[4] if it is
    /// still ARGV[3] (what queue-extend set; a later extension stays). ARGV: prefix, token,
    /// extended until ms, previous until ms.
    static let giveBack = RedisScript(name: "queue-give-back", source: library + """
        local prefix, token = ARGV[1], ARGV[2]
        local extended, previous = tonumber(ARGV[3]), tonumber(ARGV[4])
        if extended ~= previous and tonumber(redis.call('ZSCORE', prefix .. 'active', token)) == extended then
          redis.call('ZADD', prefix .. 'active', 'XX', previous, token)
          redis.call('HSET', prefix .. 'token:' .. token, 'activeUntil', previous)
        end
        return 1
        """)

    /// What an instance needs to answer its waiters' polls for a while without a script each
    /// (QueueSnapshots), and the idle-drop bookkeeping of the polls it answered so. ARGV: prefix, the
    /// opening time of a shard of a split line ('' for one line), the `gone` count the instance has
    /// seen (-1: none yet), the most samples of the line, the most active window ends, then the
    /// tokens whose waiters polled since the last snapshot (they are alive: `seen` is refreshed,
    /// XX, so a token admitted or ended meanwhile stays out). Returns {now, opensAt (0 open),
    /// lastTick, credit, active, mean hold ('' before anyone left), waiting, step, gone count, reset
    /// (1: the instance missed part of the gone log, or Redis lost it), {the scores at ranks 0,
    /// step, 2 step, ...}, the last waiter's score, {the active windows' ends in order, or none when
    /// more than the most}, {the tokens gone since the count the instance has seen}}.
    static let snapshot = RedisScript(name: "queue-snapshot", source: library + """
        local prefix = ARGV[1]
        local now = now_ms()
        for i = 6, #ARGV do redis.call('ZADD', prefix .. 'seen', 'XX', now, ARGV[i]) end
        local opening = opens_at(prefix, now, ARGV[2])
        local meta = redis.call('HMGET', prefix .. 'meta', 'lastTick', 'credit', 'hold', 'gone')
        local waiting = redis.call('ZCARD', prefix .. 'waiting')
        local step = math.max(1, math.ceil(waiting / math.max(1, tonumber(ARGV[4]))))
        local samples = {}
        for r = 0, waiting - 1, step do
          samples[#samples + 1] = redis.call('ZRANGE', prefix .. 'waiting', r, r, 'WITHSCORES')[2]
        end
        local last = ''
        if waiting > 0 then last = redis.call('ZRANGE', prefix .. 'waiting', -1, -1, 'WITHSCORES')[2] end
        local active = redis.call('ZCARD', prefix .. 'active')
        local ends = {}
        if active <= tonumber(ARGV[5]) then
          local windows = redis.call('ZRANGE', prefix .. 'active', 0, -1, 'WITHSCORES')
          for i = 2, #windows, 2 do ends[#ends + 1] = windows[i] end
        end
        local total, seen = tonumber(meta[4]) or 0, tonumber(ARGV[3])
        local reset, gone = 0, {}
        if seen < 0 or seen > total or total - seen > 10000 then
          reset = 1
        elseif seen < total then
          gone = redis.call('ZRANGEBYSCORE', prefix .. 'gone', '(' .. seen, '+inf')
        end
        return {now, opening, tonumber(meta[1]) or now, meta[2] or '0', active, meta[3] or '', waiting, step, total, reset,
                samples, last, ends, gone}
        """)

    /// Ends a token at once (after payment). ARGV: prefix, token, ended-token ttl s.
    static let end = RedisScript(name: "queue-end", source: library + """
        end_token(ARGV[1], ARGV[2], tonumber(ARGV[3]), now_ms())
        return 1
        """)
}
