from functools import lru_cache

from pydantic import Field

from shared.config import EncryptingServiceSettings


class MemorySettings(EncryptingServiceSettings):
    service_name: str = "memory-service"

    embedding_model: str = Field(
        default="all-minilm-l6-v2", description="Model the ai-runtime embeds with; stored per row"
    )
    embedding_dimensions: int = Field(default=384, description="Must match memories.embedding (a migration changes it)")
    dedup_threshold: float = Field(
        default=0.95, ge=0, le=1, description="Cosine similarity at which a new memory updates an existing one"
    )
    purge_interval_seconds: float = Field(default=60.0, gt=0)
    access_flush_seconds: float = Field(default=1.0, gt=0)
    hnsw_ef_search: int = Field(default=64, ge=10, le=1000, description="Lower bound; raised to 4·k per query")
    max_batch: int = Field(default=1000, ge=1, le=10_000)
    import_max_rows: int = Field(default=200_000, ge=1, description="Rows one import may stage in all")
    import_chunk_rows: int = Field(default=10_000, ge=1, description="Rows one upload to an import may carry")
    import_exact_dedup_rows: int = Field(
        default=50_000,
        ge=0,
        description="An owner with at most this many memories (per scope) is deduplicated exactly in the service; "
        "more, and each imported row takes the store path's HNSW probe (and the index is kept during the load)",
    )
    import_rebuild_fraction: float = Field(
        default=0.5,
        gt=0,
        description="An import of at least this fraction of the memories already stored drops the vector index "
        "and rebuilds it in bulk afterwards, instead of inserting into it row by row",
    )
    import_rebuild_min_rows: int = Field(default=5_000, ge=1)
    import_index_memory: str = Field(
        default="256MB",
        pattern=r"^[0-9]+(kB|MB|GB)$",
        description="maintenance_work_mem for the bulk index build (a build that fits in memory is several times "
        "faster; PostgreSQL's shared memory (shm_size in Docker) must hold it when workers are used)",
    )
    import_index_workers: int = Field(default=2, ge=0, le=16, description="Parallel workers for the index build")
    import_unfinished_per_user: int = Field(
        default=5, ge=1, description="Imports one user may have open or loading at once (staged rows take space)"
    )
    import_open_hours: float = Field(default=24.0, gt=0, description="Open imports idle this long are dropped")


@lru_cache
def get_settings() -> MemorySettings:
    return MemorySettings()
