from shared.contracts.plans import (  # noqa: F401 (the task-planner's own schemas, shared as contracts)
    PlanRequest,
    PlanResponse,
    PlanTask,
    ReplanRequest,
)
