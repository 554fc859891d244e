-- wrk script for the benchmarks: requests read from a file, responses checked.
--
--   wrk ... URL -- FILE MODE THREADS PATTERN [CAPTURE]
--
-- FILE has one request per line, fields separated by tabs:
--   METHOD <TAB> PATH <TAB> BODY <TAB> Name <TAB> Value [<TAB> Name <TAB> Value ...]
-- (bench/wrk.py writes it and refuses fields holding a tab or a newline).
-- MODE "once":  each request is sent at most once; thread k of THREADS takes lines k+1,
--               k+1+THREADS, ...; a thread that runs out stops and reports "exhausted"
--               (the harness then discards the round: wrk's rate would be wrong).
-- MODE "cycle": each thread sends its slice round and round (replays are harmless).
-- CAPTURE, if given: each thread appends the access_token of every good answer to CAPTURE.<k>
-- (one per line, after those of earlier runs), to be reused as real tokens by later measurements.
-- Every response must be 200 with a body matching the Lua PATTERN; others are counted and the
-- first one is kept, and done() prints one line the harness parses:
--   BENCH-RESULT sent=N responses=N bad_status=N bad_body=N exhausted=N by_thread=N,N,...
-- (by_thread: how many requests each thread took from its slice, in order: the rest were never
-- sent, and single-use requests among them can still be used by a later run. wrk itself takes
-- thread 0's first request before the run to check it parses, and never sends it.)
--   BENCH-FIRST-ERROR <status> <body>

local threads = {}

function setup(thread)
   thread:set("slice", #threads)
   table.insert(threads, thread)
end

local function split(line)
   local fields = {}
   for field in (line .. "\t"):gmatch("([^\t]*)\t") do
      fields[#fields + 1] = field
   end
   return fields
end

function init(args)
   local path, nthreads = args[1], tonumber(args[3])
   mode, pattern = args[2], args[4]
   requests, position, sent, responses, bad_status, bad_body, exhausted = {}, 0, 0, 0, 0, 0, 0
   first_error = nil
   if args[5] and args[5] ~= "" then
      capture = assert(io.open(args[5] .. "." .. slice, "a"))
   end
   local file = assert(io.open(path, "r"))
   local lineno = 0
   for line in file:lines() do
      if line ~= "" then
         if lineno % nthreads == slice then
            local f = split(line)
            local headers = {}
            for i = 4, #f - 1, 2 do
               headers[f[i]] = f[i + 1]
            end
            requests[#requests + 1] = wrk.format(f[1], f[2], headers, f[3] ~= "" and f[3] or nil)
         end
         lineno = lineno + 1
      end
   end
   file:close()
   if #requests == 0 then
      error("no requests for thread " .. slice .. " in " .. path)
   end
end

function request()
   position = position + 1
   if position > #requests then
      if mode == "once" then
         exhausted = 1
         wrk.thread:stop()  -- the loop stops; answers from now on are ignored
         return wrk.format("GET", "/")
      end
      position = 1
   end
   sent = sent + 1
   return requests[position]
end

function response(status, headers, body)
   if exhausted == 1 then
      return
   end
   responses = responses + 1
   if status ~= 200 then
      bad_status = bad_status + 1
   elseif not (body and body:find(pattern)) then
      bad_body = bad_body + 1
   else
      if capture then
         local token = body:match('"access_token"%s*:%s*"([^"]+)"')
         if token then
            capture:write(token, "\n")
         end
      end
      return
   end
   if not first_error then
      first_error = status .. " " .. string.sub(body or "", 1, 400):gsub("[\r\n]", " ")
   end
end

function done(summary, latency, reqs)
   local totals = {sent = 0, responses = 0, bad_status = 0, bad_body = 0, exhausted = 0}
   local first, by_thread = nil, {}
   for _, thread in ipairs(threads) do
      for key, _ in pairs(totals) do
         totals[key] = totals[key] + (thread:get(key) or 0)
      end
      by_thread[#by_thread + 1] = string.format("%d", thread:get("sent") or 0)
      first = first or thread:get("first_error")
   end
   io.write(string.format("BENCH-RESULT sent=%d responses=%d bad_status=%d bad_body=%d exhausted=%d by_thread=%s\n",
                          totals.sent, totals.responses, totals.bad_status, totals.bad_body, totals.exhausted,
                          table.concat(by_thread, ",")))
   if first then
      io.write("BENCH-FIRST-ERROR " .. first .. "\n")
   end
end
