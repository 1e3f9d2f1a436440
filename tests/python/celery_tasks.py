"""The Celery app of the round trip: the sidecar at REDIS_URL is both broker and result backend.

Configured as the platform configures Celery (Redis broker, Redis result backend, JSON), with a
queue name taken from E2E_CELERY_QUEUE so that concurrent runs do not take each other's tasks.
"""

import os

from celery import Celery

URL = os.environ["REDIS_URL"].rstrip("/")
QUEUE = os.environ.get("E2E_CELERY_QUEUE", "celery")

# The platform's layout: the broker in database 1, the results in database 2.
BROKER_URL = f"{URL}/1"
RESULT_BACKEND = f"{URL}/2"

app = Celery("e2e", broker=BROKER_URL, backend=RESULT_BACKEND)
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
    broker_connection_retry_on_startup=True,
    # Bounded waits on the client side: a broken reply shows up as an error, not a hang.
    broker_transport_options={"socket_timeout": 30, "socket_connect_timeout": 5},
    redis_socket_timeout=30,
    redis_socket_connect_timeout=5,
    worker_hijack_root_logger=False,
)


@app.task
def add(x, y):
    """x + y."""
    return x + y


@app.task
def mul(x, k):
    """x * k."""
    return x * k


@app.task
def xsum(values):
    """The sum of a group's results (a chord's callback)."""
    return sum(values)


@app.task
def fail(message):
    """Raises ValueError(message): the failure path of the result backend."""
    raise ValueError(message)


@app.task(bind=True)
def describe(self, payload):
    """Echoes its payload with its own task id, as the platform's flow tasks report progress."""
    self.update_state(state="PROGRESS", meta={"seen": payload})
    return {"id": self.request.id, "payload": payload}
