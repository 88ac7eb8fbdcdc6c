-- wrk's `setup` hook for the scripts that need to tell their threads apart: it numbers the
-- threads 0, 1, 2, … as the global `tid` of each thread's script (keys stay distinct, picks spread).
local thread_id = 0

return function(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
