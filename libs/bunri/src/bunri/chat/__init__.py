"""Answering recycling questions, shared by chat-api (streamed) and the AI worker (queued batch):
which guides a question is about, what the model is told, and the guide-only answer."""
