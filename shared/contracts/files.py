"""The tool-runner's file bodies that other services send and read (a run's input files, its artifacts)."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FileKind = Literal["input", "output"]
MAX_FILES_PER_RUN = 20


class FileResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str = Field(description="Sanitised: no folders, no control characters")
    media_type: str
    size: int = Field(description="Bytes")
    sha256: str
    kind: FileKind = Field(description="input: uploaded; output: left in /work/outputs by a run's code")
    run_id: uuid.UUID | None
    task_id: uuid.UUID | None
    team_id: uuid.UUID | None = Field(default=None, description="The team it belongs to (null: its owner's alone)")
    created_at: datetime
    expires_at: datetime | None = Field(description="When it is purged (null: kept until deleted)")


class FilesDescribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_FILES_PER_RUN)


class FileBrief(BaseModel):
    """What a planner and an executor are told of an input file."""

    id: uuid.UUID
    name: str
    media_type: str
    size: int
    head: str | None = Field(description="The first lines of a text file (null for other files)")


class FilesDescribeResponse(BaseModel):
    files: list[FileBrief]
