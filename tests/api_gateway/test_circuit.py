from services.api_gateway.circuit import CircuitBreaker


def test_opens_after_threshold_and_allows_one_trial() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=10)
    breaker.record_failure(now=0)
    assert breaker.state == "closed" and breaker.allow_request(now=0)
    breaker.record_failure(now=1)
    assert (breaker.state, breaker.allow_request(now=5)) == ("open", False)
    assert breaker.retry_after_seconds(now=5) == 6
    assert breaker.allow_request(now=11)  # half-open trial
    assert (breaker.state, breaker.allow_request(now=11)) == ("half_open", False)


def test_failed_trial_reopens_and_success_closes() -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=1)
    breaker.record_failure(now=0)
    assert breaker.allow_request(now=2)
    breaker.record_failure(now=2)
    assert breaker.state == "open" and not breaker.allow_request(now=2.5)
    assert breaker.allow_request(now=3.1)
    breaker.record_success()
    assert (breaker.state, breaker.allow_request(now=3.1), breaker.allow_request(now=3.1)) == ("closed", True, True)


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=1)
    breaker.record_failure(now=0)
    breaker.record_success()
    breaker.record_failure(now=0)
    assert breaker.state == "closed"
