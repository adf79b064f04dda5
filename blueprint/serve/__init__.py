"""`blueprint serve`: an OpenAI-compatible HTTP server with a web page, over one pipeline.

- `app.py`: the FastAPI app (`create_app`), its routes and the load/warm-up thread;
- `engine.py`: the bounded queue and the worker thread that batches requests;
- `schemas.py`: request/response models (the OpenAPI schema);
- `errors.py`: OpenAI-shaped errors and the body-size cap;
- `stream.py`: server-sent events; `picture.py`: the AR blueprint as a picture;
- `store.py`: images kept for `response_format: url`; `metrics.py`: Prometheus;
- `static/`: the page at `/` (plain HTML, CSS and JS, nothing from the internet).

It sits beside the CLI: it imports the pipeline and the models, nothing imports it.
"""
