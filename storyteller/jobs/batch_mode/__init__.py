"""Gemini Batch Mode for `low` priority videos: half price, answers within hours.

A wing of the job engine, reached through its "result comes later" hook and nothing else:
the engine gives the attempts this wing `takes` to its job function (`request.py`), which
does the pipeline as usual but, instead of asking Gemini, hands back the request it would
have sent. The engine passes that to `defer`, which keeps it in the database (`items.py`):
the video stays `processing`, in the queue's "later" stage, under its claim.
The coordinator (`coordinator.py`), a thread beside the supervisor, gathers the waiting requests into groups
(`gemini_batch_size` of them, within `gemini_batch_max_mb`, or fewer once the oldest has
waited `gemini_batch_gather_s`), sends each group as one Batch Mode job, polls the jobs
every `gemini_batch_poll_s`, and reads each answer as the gemini teller reads its own: a
story that meets the contract (after repair) completes its video at the Batch Mode price;
an error, an unfinished answer or a story broken beyond repair (asked again with what was
wrong) goes in a later group as the video's next attempt, until its attempts run out. A
job that fails, expires, is cancelled or outlives `gemini_batch_max_wait_h` sends its
requests again the same way. Everything is in the database, so a restarted server goes
on polling the jobs it had sent; a cancelled video's request is dropped, and so is its
video on the Files API.
"""
