"""`POST /api/estimate`: what a batch would cost before it is sent."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storyteller.api.deps import SettingsDep, SignedInDep
from storyteller.batches.choices import PRIORITY_SCHEMA, Choice
from storyteller.tellers.estimate import estimate_batch
from storyteller.tellers.gemini_batch import in_batch_mode
from storyteller.tellers.registry import with_model

router = APIRouter(tags=["estimate"])


class VideoToEstimate(BaseModel):
    name: str = Field(max_length=255)
    durationS: float = Field(gt=0, le=24 * 3600, description="Length in seconds.")


class EstimateRequest(BaseModel):
    teller: str | None = Field(default=None, description="Default: the default teller.")
    model: str | None = Field(default=None, description="Default: the teller's configured one.")
    priority: str | None = Field(
        default=None,
        description="low is priced at Gemini Batch Mode's price when Batch Mode is on.",
        json_schema_extra=PRIORITY_SCHEMA,
    )
    videos: list[VideoToEstimate] = Field(min_length=1, max_length=10_000)


class VideoEstimateView(BaseModel):
    name: str
    durationS: float
    tokensIn: int
    tokensOut: int
    dollars: float | None


class EstimateAnswer(BaseModel):
    teller: str
    model: str
    videos: list[VideoEstimateView]
    tokensIn: int
    tokensOut: int
    dollars: float | None = Field(description="None when the model's price is not known.")
    expectedSeconds: float = Field(description="Until the whole batch is done, roughly.")


@router.post("/api/estimate", response_model=EstimateAnswer, summary="What a batch would cost")
def estimate(request: EstimateRequest, settings: SettingsDep, user: SignedInDep) -> EstimateAnswer:
    """Tokens, dollars and time for videos of the given lengths with a teller, from the
    prices file; nothing is uploaded. The local teller costs nothing."""
    choice = Choice.of(
        settings,
        priority=request.priority,
        teller=request.teller,
        model=request.model,
        highest=user.priority_cap,
        usable=False,  # what a teller would cost is worth knowing before setting its key
    )
    if choice.model:
        settings = with_model(settings, choice.teller, choice.model)
    batch = estimate_batch(
        settings,
        choice.teller,
        [(video.name, video.durationS) for video in request.videos],
        batch=in_batch_mode(settings, choice.teller, choice.priority.value),
    )
    return EstimateAnswer(
        teller=batch.teller,
        model=batch.model,
        videos=[
            VideoEstimateView(
                name=v.name,
                durationS=v.duration_s,
                tokensIn=v.tokens_in,
                tokensOut=v.tokens_out,
                dollars=v.dollars,
            )
            for v in batch.videos
        ],
        tokensIn=batch.tokens_in,
        tokensOut=batch.tokens_out,
        dollars=batch.dollars,
        expectedSeconds=batch.expected_s,
    )
