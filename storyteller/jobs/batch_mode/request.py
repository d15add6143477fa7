"""In the worker: the job function of a video whose story Gemini Batch Mode writes later.

It does the pipeline as usual but, instead of asking Gemini, hands back the request it
would have sent (`Result.later`), which the engine passes to the coordinator.
"""

from __future__ import annotations

from storyteller.config import Settings
from storyteller.jobs.attempt import Attempt, Result
from storyteller.jobs.work import JobProgress, telling_result, video_file

JOB = "storyteller.jobs.batch_mode.request:prepare_request"


def prepare_request(attempt: Attempt, settings: Settings, progress: JobProgress) -> Result:
    """The evidence of the video and the request to send for it in a Batch Mode job (a
    large video uploaded through the Files API first), or the reason there is none."""
    # Imported here, as in `tell_job`: the media stack is heavy.
    from storyteller.pipeline.cache import analysis_fingerprint
    from storyteller.pipeline.progress import OverallProgress
    from storyteller.pipeline.run import gather_evidence
    from storyteller.story.rules import StoryRules
    from storyteller.tellers.gemini import GeminiTeller
    from storyteller.tellers.gemini_batch import batch_request
    from storyteller.tellers.registry import with_model
    from storyteller.telling import Telling, reasons_kept

    with video_file(attempt, settings) as found:
        if isinstance(found, Result):
            return found
        telling = Telling(file=attempt.name, status="failed", teller=attempt.teller)
        with reasons_kept(telling):
            if attempt.model:
                settings = with_model(settings, attempt.teller, attempt.model)
            teller = GeminiTeller(settings)
            evidence = gather_evidence(
                found,
                settings,
                name=attempt.name,
                progress=OverallProgress(lambda fraction, stage: progress(stage, fraction)),
            )
            rules = StoryRules.from_settings(settings)
            prepared = batch_request(teller, evidence, found, seed=attempt.seed, rules=rules)
            return Result(
                evidence=evidence,
                evidence_fingerprint=analysis_fingerprint(settings),
                later=prepared.as_dict(),
            )
    return telling_result(telling)
