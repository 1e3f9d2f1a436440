//! EVAL / EVALSHA / EVAL_RO / SCRIPT against the real redis-server 7.0, byte for byte, in RESP2
//! and RESP3: Lua <-> Redis type conversions, KEYS/ARGV, the script cache, error decoration,
//! the sandbox, and redis-py's Lock scripts.

mod support;

use support::{hello3, show, Differential};

/// Sends every command to both servers and asserts all replies agree, listing every mismatch.
fn agree(d: &mut Differential, cases: &[&[&str]]) {
    let mut diffs = Vec::new();
    for args in cases {
        let (real, ours) = (d.real.call(args), d.ours.call(args));
        if real != ours {
            diffs.push(format!(
                "{args:?}\n   redis: {}\n   ours:  {}",
                show(&real),
                show(&ours)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} mismatches:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

const TYPES: &[&[&str]] = &[
    &["EVAL", "return 'x'", "0"],
    &["EVAL", "return 42", "0"],
    &["EVAL", "return 3.99", "0"],
    &["EVAL", "return -3.99", "0"],
    &["EVAL", "return 9007199254740993", "0"],
    &["EVAL", "return 1e300", "0"],
    &["EVAL", "return 0/0", "0"],
    &["EVAL", "return true", "0"],
    &["EVAL", "return false", "0"],
    &["EVAL", "return nil", "0"],
    &["EVAL", "return", "0"],
    &["EVAL", "return {}", "0"],
    &["EVAL", "return {1,2,3,nil,4}", "0"],
    &["EVAL", "return {1,'a',{2,true,false},2.5}", "0"],
    &["EVAL", "return {a=1}", "0"],
    &["EVAL", "return {ok='fine'}", "0"],
    &["EVAL", "return {ok='a\\r\\nb'}", "0"],
    &["EVAL", "return {ok=''}", "0"],
    &["EVAL", "return {err='MY failure'}", "0"],
    &["EVAL", "return {err='-x y'}", "0"],
    &["EVAL", "return {err=''}", "0"],
    &["EVAL", "return {err='a\\n'}", "0"],
    &["EVAL", "return {err='\\na'}", "0"],
    &["EVAL", "return {err='e', ok='o'}", "0"],
    &["EVAL", "return {1, 2, err='x'}", "0"],
    &["EVAL", "return {err=1}", "0"],
    &["EVAL", "return redis.error_reply('MY err')", "0"],
    &["EVAL", "return redis.error_reply('noprefix')", "0"],
    &["EVAL", "return redis.error_reply('-MY err')", "0"],
    &["EVAL", "return redis.error_reply('a\\nb')", "0"],
    &["EVAL", "return redis.error_reply()", "0"],
    &["EVAL", "return redis.status_reply('FINE')", "0"],
    &["EVAL", "return redis.status_reply(1)", "0"],
    &[
        "EVAL",
        "return {1, redis.error_reply('MY e'), redis.status_reply('S')}",
        "0",
    ],
    &["EVAL", "return {double=1.5}", "0"],
    &["EVAL", "return {double=0.1}", "0"],
    &["EVAL", "return {double=3}", "0"],
    &["EVAL", "return {double=1e300}", "0"],
    &["EVAL", "return {double=1/0}", "0"],
    &["EVAL", "return {double=0/0}", "0"],
    &["EVAL", "return {double='x'}", "0"],
    &["EVAL", "return {map={a=1,b={1,2}}}", "0"],
    &["EVAL", "return {map={a=1,b=2,c=3,d=4,e=5}}", "0"],
    &["EVAL", "return {set={a=true,b=true,c=true,d=true}}", "0"],
    &["EVAL", "return {big_number='123'}", "0"],
    &[
        "EVAL",
        "return {verbatim_string={format='txt', string='hi'}}",
        "0",
    ],
    &[
        "EVAL",
        "return {verbatim_string={format='mkd', string='hi'}}",
        "0",
    ],
    &["EVAL", "return redis.setresp(3)", "0"],
    &["EVAL", "redis.setresp(3) return true", "0"],
    &["EVAL", "redis.setresp(3) return false", "0"],
    &["EVAL", "redis.setresp(3) return nil", "0"],
    &["EVAL", "redis.setresp(3) return {1, false, true}", "0"],
    &["EVAL", "return redis.setresp(4)", "0"],
    &["EVAL", "return redis.setresp()", "0"],
    &["EVAL", "return redis.sha1hex('')", "0"],
    &["EVAL", "return redis.sha1hex(123)", "0"],
    &["EVAL", "return redis.sha1hex(1.5)", "0"],
    &["EVAL", "return redis.sha1hex()", "0"],
    &["EVAL", "return redis.log(redis.LOG_WARNING, 'hello')", "0"],
    &[
        "EVAL",
        "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
        "0",
    ],
    &["EVAL", "return redis.log()", "0"],
    &["EVAL", "return redis.log('x', 'y')", "0"],
    &["EVAL", "return redis.log(9, 'y')", "0"],
    &["EVAL", "return redis.REDIS_VERSION", "0"],
    &["EVAL", "return redis.REDIS_VERSION_NUM", "0"],
    &["EVAL", "return redis.set_repl(redis.REPL_ALL)", "0"],
    &["EVAL", "return redis.replicate_commands()", "0"],
    &["EVAL", "return _VERSION", "0"],
    &["EVAL", "return string.format('%d-%s', 5, 'x')", "0"],
    &["EVAL", "return ('x'):rep(3)", "0"],
    &["EVAL", "return tonumber('12')", "0"],
    &["EVAL", "return math.floor(2.7)", "0"],
    &["EVAL", "return table.concat({'a','b'}, ',')", "0"],
    &["EVAL", "local t = {} t[1] = 1 t[3] = 3 return t", "0"],
];

#[test]
fn lua_values_convert_like_redis_in_resp2_and_resp3() {
    let mut d = Differential::new();
    agree(&mut d, TYPES);
    hello3(&mut d);
    agree(&mut d, TYPES);
}

#[test]
fn keys_and_argv() {
    let mut d = Differential::new();
    agree(
        &mut d,
        &[
            &[
                "EVAL",
                "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}",
                "2",
                "k1",
                "k2",
                "a1",
                "a2",
            ],
            &["EVAL", "return {#KEYS, #ARGV}", "0"],
            &["EVAL", "return ARGV", "0", "x", "", "z"],
            &["EVAL", "return KEYS", "3", "a", "b", "c"],
            &["EVAL", "return 1", "0", "extra"],
            &["EVAL", "return 1", "-1"],
            &["EVAL", "return 1", "5", "a"],
            &["EVAL", "return 1", "9999999999"],
            &["EVAL", "return 1", "x"],
            &["EVAL", "return 1", "1.5"],
            &["EVAL", "return 1 +", "x"],
            &["EVAL"],
            &["EVAL", "return 1"],
            &["EVAL_RO", "return 1"],
            &["EVALSHA", "abc"],
        ],
    );
}

#[test]
fn script_cache_load_exists_flush_evalsha() {
    let mut d = Differential::new();
    agree(
        &mut d,
        &[
            &[
                "SCRIPT",
                "EXISTS",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            ],
            &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
            &["SCRIPT", "LOAD", "return 1"],
            &[
                "SCRIPT",
                "EXISTS",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
                "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB",
                "nope",
            ],
            &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
            &["EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
            &[
                "EVALSHA_RO",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
                "0",
            ],
            &["EVALSHA", "ffff", "-1"],
            &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "x"],
            &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            // EVAL caches the script too.
            &["EVAL", "return 'cached'", "0"],
            &[
                "SCRIPT",
                "EXISTS",
                "4a8e7b4cf8f1b1b3e0b9e2b0c5d4d67b9c0a7f3e",
            ],
            &["SCRIPT", "LOAD", "return 1 +"],
            &["SCRIPT", "LOAD", "#!lua flags=bogus\nreturn 1"],
            &["SCRIPT", "FLUSH"],
            &[
                "SCRIPT",
                "EXISTS",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            ],
            &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
            &["SCRIPT", "LOAD", "return 1"],
            &["SCRIPT", "FLUSH", "ASYNC"],
            &["SCRIPT", "FLUSH", "sync"],
            &["SCRIPT", "FLUSH", "bogus"],
            &["SCRIPT", "FLUSH", "sync", "async"],
            &["SCRIPT", "EXISTS"],
            &["SCRIPT", "LOAD"],
            &["SCRIPT", "LOAD", "a", "b"],
            &["SCRIPT", "BOGUS"],
            &["SCRIPT"],
            &["SCRIPT", "HELP"],
            &["SCRIPT", "KILL"],
            &["SCRIPT", "DEBUG", "no"],
        ],
    );
    // The SHA EVAL cached is the SHA1 of the body.
    let sha = d.check(&["EVAL", "return redis.sha1hex('return 2')", "0"]);
    let sha = std::str::from_utf8(&sha[5..45]).unwrap().to_string();
    d.check(&["EVAL", "return 2", "0"]);
    d.check(&["EVALSHA", &sha, "0"]);
}

#[test]
fn redis_call_errors_and_pcall() {
    let mut d = Differential::new();
    agree(
        &mut d,
        &[
            &["SET", "s", "v"],
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "s"],
            &[
                "EVAL",
                "return redis.call('set', KEYS[1], ARGV[1])",
                "1",
                "k",
                "v",
            ],
            &["EVAL", "return redis.call('SET', 'n', 1.5)", "0"],
            &[
                "EVAL",
                "redis.call('set','n', 0.1) return redis.call('get','n')",
                "0",
            ],
            &[
                "EVAL",
                "redis.call('set','n', 1e20) return redis.call('get','n')",
                "0",
            ],
            &[
                "EVAL",
                "redis.call('set','n', 10000000000000000) return redis.call('get','n')",
                "0",
            ],
            &["EVAL", "return type(redis.call('get', 'nokey'))", "0"],
            &["EVAL", "return redis.call('get', 'nokey')", "0"],
            &["EVAL", "return type(redis.call('set','a','b'))", "0"],
            &["EVAL", "return redis.call('set','a','b').ok", "0"],
            &["EVAL", "return redis.call('ping')", "0"],
            &["EVAL", "return redis.call('del', 'a', 'nokey')", "0"],
            &["EVAL", "return redis.call('exists', 'a', 's')", "0"],
            // redis.call raises, decorated with the script's SHA and line.
            &["EVAL", "return redis.call('set', 'a', 'b', 'c')", "0"],
            &["EVAL", "\n\nreturn redis.call('set', 'a', 'b', 'c')", "0"],
            &["EVAL", "return redis.call('select', 'x')", "0"],
            &["EVAL", "return redis.call('nosuch', 'x')", "0"],
            &["EVAL", "return redis.call('get')", "0"],
            &["EVAL", "return redis.call('get', 'a', 'b')", "0"],
            &["EVAL", "return redis.call()", "0"],
            &["EVAL", "return redis.call({})", "0"],
            &["EVAL", "return redis.call('get', {})", "0"],
            &["EVAL", "return redis.call('set', 'n', true)", "0"],
            &["EVAL", "return redis.call('set', 'n', nil)", "0"],
            &["EVAL", "return redis.call('hello')", "0"],
            &["EVAL", "return redis.call('eval', 'return 1', '0')", "0"],
            &[
                "EVAL",
                "return redis.call('script', 'load', 'return 1')",
                "0",
            ],
            &["EVAL", "return redis.call('multi')", "0"],
            &["EVAL", "return redis.call('exec')", "0"],
            &["EVAL", "return redis.call('watch', 'x')", "0"],
            &["EVAL", "return redis.call('quit')", "0"],
            &["EVAL", "return redis.call('client', 'id')", "0"],
            // redis.pcall returns the error as a table.
            &["EVAL", "return redis.pcall('set', 'a', 'b', 'c')", "0"],
            &["EVAL", "return redis.pcall('nosuch')", "0"],
            &["EVAL", "return redis.pcall()", "0"],
            &["EVAL", "return redis.pcall('get', {})", "0"],
            &["EVAL", "return redis.pcall('hello')", "0"],
            &["EVAL", "return redis.pcall('get')", "0"],
            &[
                "EVAL",
                "local r = redis.pcall('select', 'x') return type(r) .. ' ' .. r.err",
                "0",
            ],
            &["EVAL", "return redis.pcall('select', 'x')['err']", "0"],
            &["EVAL", "return {pcall(redis.call, 'select', 'x')}", "0"],
            &[
                "EVAL",
                "local ok, e = pcall(redis.call, 'select', 'x') return type(e)",
                "0",
            ],
            &["EVAL", "local ok, e = pcall(error, 'x') return e", "0"],
            &[
                "EVAL",
                "local ok, e = pcall(function() return nil + 1 end) return e",
                "0",
            ],
            &["EVAL", "return {pcall(error, {err='E x'})}", "0"],
            // SELECT inside a script does not change the caller's database.
            &[
                "EVAL",
                "redis.call('select', '1') return redis.call('set', 'in1', 'b')",
                "0",
            ],
            &["EXISTS", "in1"],
            &["SELECT", "1"],
            &["EXISTS", "in1"],
            &["SELECT", "0"],
            &["EVAL", "return redis.call('dbsize')", "0"],
        ],
    );
}

#[test]
fn runtime_and_compile_errors() {
    let mut d = Differential::new();
    agree(
        &mut d,
        &[
            &["EVAL", "return 1 +", "0"],
            &["EVAL", "return \"unfinished", "0"],
            &["EVAL", "error('boom')", "0"],
            &["EVAL", "error('-boom')", "0"],
            &["EVAL", "error('a\\nb')", "0"],
            &["EVAL", "error('a\\n')", "0"],
            &["EVAL", "error(12)", "0"],
            &["EVAL", "error(nil)", "0"],
            &["EVAL", "error('x', 0)", "0"],
            &["EVAL", "error({err='MY boom'})", "0"],
            &["EVAL", "error({err='-MY boom'})", "0"],
            &["EVAL", "error({err='x\\n'})", "0"],
            &["EVAL", "error(redis.error_reply('MY e'))", "0"],
            &["EVAL", "local f = function() error('deep') end\nf()", "0"],
            &["EVAL", "return nil + 1", "0"],
            &["EVAL", "local t = nil\nreturn t.x", "0"],
            &["EVAL", "return string.rep()", "0"],
            // The sandbox.
            &["EVAL", "x = 1", "0"],
            &["EVAL", "return x", "0"],
            &["EVAL", "return os", "0"],
            &["EVAL", "return os.time()", "0"],
            &["EVAL", "return io", "0"],
            &["EVAL", "return loadfile", "0"],
            &["EVAL", "return dofile", "0"],
            &["EVAL", "return print", "0"],
            &["EVAL", "return debug", "0"],
            &["EVAL", "return require", "0"],
            &["EVAL", "return type(getfenv)", "0"],
            &["EVAL", "redis = nil", "0"],
            &["EVAL", "redis.call = nil", "0"],
            &["EVAL", "string.foo = 1", "0"],
            &["EVAL", "rawset(_G, 'zz', 1)", "0"],
            &["EVAL", "return {pcall(setmetatable, _G, nil)}", "0"],
            &["EVAL", "return type(getmetatable('x'))", "0"],
            &["EVAL", "return type(_G)", "0"],
            &["EVAL", "return type(rawget(_G, 'redis'))", "0"],
            &[
                "EVAL",
                "local n = 0 for k in pairs(redis) do n = n + 1 end return n",
                "0",
            ],
            &[
                "EVAL",
                "local t = {} for k in pairs(math) do t[#t+1] = k end table.sort(t) return t",
                "0",
            ],
            &["EVAL", "return loadstring('return 1')()", "0"],
            &["EVAL", "return loadstring('x = 1')()", "0"],
            &[
                "EVAL",
                "local f = loadstring('return redis.call(\"select\",\"x\")') return f()",
                "0",
            ],
            // Shebang flags.
            &["EVAL", "#!lua\nreturn redis.call('get','a')", "0"],
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
                "0",
            ],
            &["EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1", "0"],
            &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
            &["EVAL", "#!lua name=x\nreturn 1", "0"],
            &["EVAL", "#!python\nreturn 1", "0"],
            &["EVAL", "#!lua", "0"],
            &["EVAL", "#!lua\nreturn 1 +", "0"],
            &["EVAL", "#!lua\nreturn redis.call('select','x')", "0"],
            &["EVAL", "#!lua flags=\nreturn 2", "0"],
            &["EVAL", "#!lua flags=no-writes,\nreturn 2", "0"],
            // Read-only variants.
            &["EVAL_RO", "return redis.call('set','a','b')", "0"],
            &["EVAL_RO", "return redis.pcall('set','a','b')", "0"],
            &["EVAL_RO", "return redis.call('get','a')", "1", "a"],
            &["EVAL_RO", "#!lua\nreturn 1", "0"],
            &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"],
        ],
    );
}

/// redis-py's Lock scripts, as in redis/lock.py (whitespace included: it decides the SHA1).
const LUA_RELEASE_SCRIPT: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    ";

const LUA_EXTEND_SCRIPT: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        local expiration = redis.call('pttl', KEYS[1])
        if not expiration then
            expiration = 0
        end
        if expiration < 0 then
            return 0
        end

        local newttl = ARGV[2]
        if ARGV[3] == \"0\" then
            newttl = ARGV[2] + expiration
        end
        redis.call('pexpire', KEYS[1], newttl)
        return 1
    ";

const LUA_REACQUIRE_SCRIPT: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('pexpire', KEYS[1], ARGV[2])
        return 1
    ";

/// redis-py registers a script, then calls EVALSHA and falls back to EVAL on NOSCRIPT.
fn evalsha_or_eval(d: &mut Differential, script: &str, args: &[&str]) {
    let sha = d.check(&["SCRIPT", "LOAD", script]);
    let sha = std::str::from_utf8(&sha[5..45]).unwrap().to_string();
    let mut call = vec!["EVALSHA", sha.as_str()];
    call.extend_from_slice(args);
    d.check(&call);
}

#[test]
fn redis_py_lock_release() {
    let mut d = Differential::new();
    d.check(&["SET", "lock:x", "token"]);
    evalsha_or_eval(&mut d, LUA_RELEASE_SCRIPT, &["1", "lock:x", "other"]);
    d.check(&["GET", "lock:x"]);
    evalsha_or_eval(&mut d, LUA_RELEASE_SCRIPT, &["1", "lock:x", "token"]);
    d.check(&["EXISTS", "lock:x"]);
    evalsha_or_eval(&mut d, LUA_RELEASE_SCRIPT, &["1", "lock:x", "token"]);
    d.check(&["EVAL", LUA_RELEASE_SCRIPT, "1", "lock:x", "token"]);
    d.check(&["SCRIPT", "FLUSH"]);
    let sha = d.check(&[
        "EVAL",
        "return redis.sha1hex(ARGV[1])",
        "0",
        LUA_RELEASE_SCRIPT,
    ]);
    let sha = std::str::from_utf8(&sha[5..45]).unwrap().to_string();
    d.check(&["EVALSHA", &sha, "1", "lock:x", "token"]);
}

#[test]
fn redis_py_lock_acquire_extend_reacquire() {
    let mut d = Differential::new();
    d.check(&["SET", "lock:x", "token", "NX", "PX", "30000"]);
    d.check(&["SET", "lock:x", "token2", "NX", "PX", "30000"]);
    evalsha_or_eval(
        &mut d,
        LUA_EXTEND_SCRIPT,
        &["1", "lock:x", "other", "1000", "0"],
    );
    evalsha_or_eval(
        &mut d,
        LUA_EXTEND_SCRIPT,
        &["1", "lock:x", "token", "60000", "1"],
    );
    d.check(&[
        "EVAL",
        "return redis.call('pttl', KEYS[1]) > 59000",
        "1",
        "lock:x",
    ]);
    evalsha_or_eval(
        &mut d,
        LUA_EXTEND_SCRIPT,
        &["1", "lock:x", "token", "1000", "0"],
    );
    d.check(&[
        "EVAL",
        "return redis.call('pttl', KEYS[1]) > 60000",
        "1",
        "lock:x",
    ]);
    evalsha_or_eval(
        &mut d,
        LUA_REACQUIRE_SCRIPT,
        &["1", "lock:x", "other", "5000"],
    );
    evalsha_or_eval(
        &mut d,
        LUA_REACQUIRE_SCRIPT,
        &["1", "lock:x", "token", "5000"],
    );
    d.check(&[
        "EVAL",
        "return redis.call('pttl', KEYS[1]) <= 5000",
        "1",
        "lock:x",
    ]);
    d.check(&["SET", "lock:y", "token"]);
    evalsha_or_eval(
        &mut d,
        LUA_EXTEND_SCRIPT,
        &["1", "lock:y", "token", "1000", "0"],
    );
    evalsha_or_eval(&mut d, LUA_RELEASE_SCRIPT, &["1", "lock:x", "token"]);
    evalsha_or_eval(
        &mut d,
        LUA_EXTEND_SCRIPT,
        &["1", "lock:x", "token", "1000", "0"],
    );
}

#[test]
fn wrong_type_errors_from_scripts() {
    let mut d = Differential::new();
    agree(
        &mut d,
        &[
            &["SET", "s", "v"],
            &["EVAL", "return redis.call('incr', KEYS[1])", "1", "s"],
            &["EVAL", "return redis.call('lpush', KEYS[1], 'x')", "1", "s"],
            &[
                "EVAL",
                "return redis.pcall('lpush', KEYS[1], 'x')",
                "1",
                "s",
            ],
            &["EVAL", "return redis.call('blpop', 'l', 0)", "0"],
            &["EVAL", "return redis.call('incr', KEYS[1])", "1", "s"],
        ],
    );
}

#[test]
fn sliding_window_rate_limiter() {
    let script = "
        local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
        local count = redis.call('ZCARD', key)
        if count >= limit then return {0, count} end
        redis.call('ZADD', key, now, ARGV[4])
        redis.call('EXPIRE', key, math.ceil(window / 1000))
        return {1, count + 1}
    ";
    let mut d = Differential::new();
    for (now, id) in [
        ("1000", "a"),
        ("1100", "b"),
        ("1200", "c"),
        ("1300", "d"),
        ("2150", "e"),
    ] {
        d.check(&["EVAL", script, "1", "rl:user", now, "1000", "3", id]);
    }
    d.check(&["ZRANGE", "rl:user", "0", "-1", "WITHSCORES"]);
    d.check(&[
        "EVAL",
        "return redis.call('zscore', KEYS[1], 'e')",
        "1",
        "rl:user",
    ]);
    d.check(&[
        "EVAL",
        "redis.setresp(3) return redis.call('zscore', KEYS[1], 'e')",
        "1",
        "rl:user",
    ]);
    hello3(&mut d);
    d.check(&[
        "EVAL",
        "redis.setresp(3) return redis.call('zscore', KEYS[1], 'e')",
        "1",
        "rl:user",
    ]);
}

#[test]
fn resp3_client_receives_script_replies() {
    let mut d = Differential::new();
    hello3(&mut d);
    agree(
        &mut d,
        &[
            &["SET", "s", "v"],
            &["EVAL", "return redis.call('get', 'nokey')", "0"],
            &[
                "EVAL",
                "redis.setresp(3) return redis.call('get', 'nokey')",
                "0",
            ],
            &[
                "EVAL",
                "redis.setresp(3) return type(redis.call('get', 'nokey'))",
                "0",
            ],
            &["EVAL", "return redis.call('set', 'a', 'b', 'c')", "0"],
            &["EVAL", "return redis.pcall('set', 'a', 'b', 'c')", "0"],
            &["EVAL", "return 1 +", "0"],
            &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            &["EVAL", "return {1, false, true, 'x', {ok='y'}}", "0"],
            &[
                "EVAL",
                "redis.setresp(3) return redis.call('hello', '3')",
                "0",
            ],
        ],
    );
}

#[test]
fn scripts_in_multi_and_pipelines() {
    let mut d = Differential::new();
    agree(
        &mut d,
        &[
            &["MULTI"],
            &[
                "EVAL",
                "return redis.call('set', KEYS[1], ARGV[1])",
                "1",
                "m",
                "1",
            ],
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "m"],
            &["EVAL", "return redis.call('select', 'x')", "0"],
            &["EXEC"],
            &["GET", "m"],
        ],
    );
}

/// Scripts that would crash or exhaust a server must leave the embedded store answering.
/// (Not differential: `error({})` crashes redis-server 7.0.15 itself.)
#[test]
fn hostile_scripts_do_not_break_the_store() {
    let mut d = Differential::new();
    let ours = &mut d.ours;
    for script in [
        "error({})",
        "error(setmetatable({}, {__index = function() error('x') end}))",
        "local t = {} t[1] = t return t",
        "local t = {} t.map = t return t",
        "return string.rep('x', 2^31)",
        "local t = {} for i = 1, 1e9 do t[i] = i end",
        "local function f() return 1 + f() end return f()",
        "local function f() local ok = pcall(f) return ok end return f()",
        "return loadstring(string.dump(function() return 1 end))",
        "return coroutine.wrap(function() return redis.call('ping') end)()",
        "local t = {} for i = 1, 300 do t = {t} end return t",
    ] {
        let reply = ours.call(&["EVAL", script, "0"]);
        assert!(!reply.is_empty(), "{script}");
        assert_eq!(&ours.call(&["PING"])[..], b"+PONG\r\n", "after {script}");
    }
    let reply = ours.call(&["EVAL", "return redis.call('ping')", "0"]);
    assert_eq!(&reply[..], b"+PONG\r\n");
    // Binary-safe keys and arguments.
    let reply = ours.call_bytes(&[
        b"EVAL",
        b"return {KEYS[1], ARGV[1]}",
        b"1",
        b"k\0\r\n",
        b"\xff\x00",
    ]);
    assert_eq!(&reply[..], b"*2\r\n$4\r\nk\0\r\n\r\n$2\r\n\xff\x00\r\n");
}
