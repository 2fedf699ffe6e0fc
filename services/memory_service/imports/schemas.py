import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ImportStatus = Literal["open", "committing", "indexing", "done", "failed"]


class ImportResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: ImportStatus = Field(
        description="open: taking rows; committing: loading (poll); indexing: loaded and searchable, the vector "
        "index is being rebuilt in bulk; done; failed (see error, nothing was loaded)"
    )
    rows_staged: int
    imported: int = Field(description="New memories")
    deduplicated: int = Field(description="Rows that repeated a stored memory or an earlier row, and strengthened it")
    index_rebuilt: bool = Field(description="Whether the load dropped the vector index and rebuilt it in bulk")
    error: str | None
    created_at: datetime
    finished_at: datetime | None
