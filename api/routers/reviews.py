"""The review queue of conflicting readings, for the operator (a signed-in address holding the
on-chain REGISTRAR_ROLE, the role that keeps the district's registers): list the held readings,
resolve one (keep the stored value, the held one, or a value of one's own). The decision is
recorded with the operator's address; while a review is open its day is not settled."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentSession, errors, role_required
from api.ports import ReviewDesk
from ledger.energy.reviews import ReviewItem, resolve

router = APIRouter(prefix="/v1/operator/readings", tags=["operator"])


async def get_reviews(request: Request) -> ReviewDesk:
    desk: ReviewDesk = request.app.state.reviews
    return desk


Reviews = Annotated[ReviewDesk, Depends(get_reviews)]


class ReviewOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    status: Literal["open", "resolved"]
    source: str
    meter: str = Field(description="the meter number (personal data: operator only)")
    start: str = Field(description="interval start, ISO 8601 UTC")
    step_minutes: int
    direction: str
    version: str
    unit: str
    stored_value: int
    proposed_value: int
    reason: str
    raw_sha256: str
    resolution: str | None = None
    resolved_value: int | None = None
    resolved_by: str | None = None


class ReviewListOut(BaseModel):
    reviews: list[ReviewOut]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: str = Field(
        pattern=r"^(raw|corrected|[0-9]{1,16})$",
        description="raw (the stored value), corrected (the held value) or a whole number of Wh/L",
    )


def _out(item: ReviewItem) -> ReviewOut:
    return ReviewOut.model_validate(item.to_json())


@router.get(
    "/reviews",
    response_model=ReviewListOut,
    dependencies=[role_required("registrar")],
    responses=errors(401, 403),
)
async def list_reviews(
    reviews: Reviews,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
) -> ReviewListOut:
    """Conflicting readings held for review (open by default)."""
    wanted = None if status == "all" else status
    items = await anyio.to_thread.run_sync(reviews.review_queue, wanted)
    return ReviewListOut(reviews=[_out(i) for i in items])


@router.post(
    "/reviews/{review_id}/resolve",
    response_model=ReviewOut,
    dependencies=[role_required("registrar")],
    responses=errors(400, 401, 403),
)
async def resolve_review(
    review_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ResolveIn,
    reviews: Reviews,
    session: CurrentSession,
) -> ReviewOut:
    """Decide one review; the day it belongs to can then be settled (or corrected)."""
    item = await anyio.to_thread.run_sync(resolve, reviews, review_id, body.keep, session.address)
    return _out(item)
