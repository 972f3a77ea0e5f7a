-- gateway_voice.lua — wrk script for tests/bench/gateway_bench.sh: Twilio
-- voice webhooks, each with a new CallSid (so each creates a call log in
-- the store, durably) and a valid X-Twilio-Signature computed here with
-- OpenSSL's HMAC through LuaJIT's FFI (same algorithm as common/sb_twilio).
--
-- Environment: GW_BENCH_TOKEN (Twilio auth token), GW_BENCH_PUBLIC (the
-- gateway's --public-url), GW_BENCH_TO (the E.164 number called),
-- GW_BENCH_RUN (a tag that keeps CallSids unique across runs).
-- done() prints "bad=N": answers that were not a <Stream> TwiML.
local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha1(void);
unsigned char *HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *d, size_t n,
                    unsigned char *out, unsigned int *out_len);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
]]
local crypto = ffi.load("libcrypto.so.3")

local token = os.getenv("GW_BENCH_TOKEN") or "12345"
local public = os.getenv("GW_BENCH_PUBLIC") or "http://127.0.0.1:8080"
local to = os.getenv("GW_BENCH_TO") or "+18005551212"
local run = os.getenv("GW_BENCH_RUN") or tostring(os.time())
local path = "/api/twilio/voice"
local from = "+14155550100"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local mac = ffi.new("unsigned char[20]")
local maclen = ffi.new("unsigned int[1]")
local b64 = ffi.new("unsigned char[32]")
local counter, prefix = 0, nil
bad = 0

function init(args)
  prefix = string.format("CA%s%02d", run, tid)
end

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  counter = counter + 1
  local sid = string.format("%s%012d", prefix, counter)
  -- parameters in name order: the signature appends name..value sorted by name
  local p = {{"AccountSid", "AC00000000000000000000000000000000"}, {"CallSid", sid},
             {"CallStatus", "ringing"}, {"Direction", "inbound"}, {"From", from}, {"To", to}}
  local signed, body = public .. path, {}
  for i, kv in ipairs(p) do
    signed = signed .. kv[1] .. kv[2]
    body[i] = kv[1] .. "=" .. enc(kv[2])
  end
  crypto.HMAC(crypto.EVP_sha1(), token, #token, signed, #signed, mac, maclen)
  local sig = ffi.string(b64, crypto.EVP_EncodeBlock(b64, mac, 20))
  return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded",
                                   ["X-Twilio-Signature"] = sig}, table.concat(body, "&"))
end

function response(status, headers, body)
  if status ~= 200 or not body:find("<Stream", 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("bad=%d\n", total))
end
