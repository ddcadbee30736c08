FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newswire ./newswire
COPY worker ./worker
COPY producer ./producer
RUN pip install . && useradd --create-home newswire
USER newswire
ENTRYPOINT ["newswire"]
CMD ["worker"]
