"""Every attribute, metric and value name that otel-llm writes or reads, in one place.

Standard names are re-exported from ``opentelemetry-semantic-conventions`` (the GenAI names there are
current, though that package marks them as moved to the semantic-conventions-genai repository).
Names we invent are in the section "otel-llm's own", each with a comment saying what it means.
Names of other instrumentations' dialects, which the processor reads, are in the last sections.

No other module of otel-llm or otel-llm-processor spells a ``"gen_ai..."`` string literal.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _ga
from opentelemetry.semconv._incubating.attributes import openai_attributes as _oa
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gm
from opentelemetry.semconv.attributes import error_attributes as _err
from opentelemetry.semconv.attributes import http_attributes as _http
from opentelemetry.semconv.attributes import server_attributes as _srv

# ---------------------------------------------------------------------------------------------
# Standard GenAI attributes (semantic conventions)
# ---------------------------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = _ga.GEN_AI_OPERATION_NAME
GEN_AI_PROVIDER_NAME: Final = _ga.GEN_AI_PROVIDER_NAME
GEN_AI_SYSTEM: Final = _ga.GEN_AI_SYSTEM  # deprecated name of gen_ai.provider.name
GEN_AI_CONVERSATION_ID: Final = _ga.GEN_AI_CONVERSATION_ID
GEN_AI_DATA_SOURCE_ID: Final = _ga.GEN_AI_DATA_SOURCE_ID
GEN_AI_OUTPUT_TYPE: Final = _ga.GEN_AI_OUTPUT_TYPE

GEN_AI_REQUEST_MODEL: Final = _ga.GEN_AI_REQUEST_MODEL
GEN_AI_REQUEST_MAX_TOKENS: Final = _ga.GEN_AI_REQUEST_MAX_TOKENS
GEN_AI_REQUEST_TEMPERATURE: Final = _ga.GEN_AI_REQUEST_TEMPERATURE
GEN_AI_REQUEST_TOP_P: Final = _ga.GEN_AI_REQUEST_TOP_P
GEN_AI_REQUEST_TOP_K: Final = _ga.GEN_AI_REQUEST_TOP_K
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = _ga.GEN_AI_REQUEST_FREQUENCY_PENALTY
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = _ga.GEN_AI_REQUEST_PRESENCE_PENALTY
GEN_AI_REQUEST_STOP_SEQUENCES: Final = _ga.GEN_AI_REQUEST_STOP_SEQUENCES
GEN_AI_REQUEST_SEED: Final = _ga.GEN_AI_REQUEST_SEED
GEN_AI_REQUEST_CHOICE_COUNT: Final = _ga.GEN_AI_REQUEST_CHOICE_COUNT
GEN_AI_REQUEST_STREAM: Final = _ga.GEN_AI_REQUEST_STREAM
GEN_AI_REQUEST_ENCODING_FORMATS: Final = _ga.GEN_AI_REQUEST_ENCODING_FORMATS

GEN_AI_RESPONSE_ID: Final = _ga.GEN_AI_RESPONSE_ID
GEN_AI_RESPONSE_MODEL: Final = _ga.GEN_AI_RESPONSE_MODEL
GEN_AI_RESPONSE_FINISH_REASONS: Final = _ga.GEN_AI_RESPONSE_FINISH_REASONS
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = _ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK

GEN_AI_USAGE_INPUT_TOKENS: Final = _ga.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS: Final = _ga.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = _ga.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = _ga.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = _ga.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
GEN_AI_USAGE_PROMPT_TOKENS: Final = _ga.GEN_AI_USAGE_PROMPT_TOKENS  # deprecated -> input_tokens
GEN_AI_USAGE_COMPLETION_TOKENS: Final = _ga.GEN_AI_USAGE_COMPLETION_TOKENS  # deprecated -> output_tokens
# util-genai 1.3 writes this name; the registry's is cache_creation.input_tokens. Readers accept both.
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
# Deprecated OpenAI-specific names (renamed in the semantic conventions; read and normalised).
GEN_AI_OPENAI_REQUEST_SEED: Final = _ga.GEN_AI_OPENAI_REQUEST_SEED  # -> gen_ai.request.seed
GEN_AI_OPENAI_REQUEST_SERVICE_TIER: Final = _ga.GEN_AI_OPENAI_REQUEST_SERVICE_TIER
GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: Final = _ga.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER
GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = _ga.GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT

GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = _ga.GEN_AI_EMBEDDINGS_DIMENSION_COUNT
GEN_AI_INPUT_MESSAGES: Final = _ga.GEN_AI_INPUT_MESSAGES
GEN_AI_OUTPUT_MESSAGES: Final = _ga.GEN_AI_OUTPUT_MESSAGES
GEN_AI_SYSTEM_INSTRUCTIONS: Final = _ga.GEN_AI_SYSTEM_INSTRUCTIONS
GEN_AI_TOOL_DEFINITIONS: Final = _ga.GEN_AI_TOOL_DEFINITIONS
GEN_AI_TOOL_NAME: Final = _ga.GEN_AI_TOOL_NAME
GEN_AI_TOOL_CALL_ID: Final = _ga.GEN_AI_TOOL_CALL_ID
GEN_AI_TOOL_TYPE: Final = _ga.GEN_AI_TOOL_TYPE
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = _ga.GEN_AI_RETRIEVAL_QUERY_TEXT
GEN_AI_RETRIEVAL_DOCUMENTS: Final = _ga.GEN_AI_RETRIEVAL_DOCUMENTS
GEN_AI_AGENT_NAME: Final = _ga.GEN_AI_AGENT_NAME
GEN_AI_TOKEN_TYPE: Final = _ga.GEN_AI_TOKEN_TYPE

GEN_AI_EVALUATION_NAME: Final = _ga.GEN_AI_EVALUATION_NAME
GEN_AI_EVALUATION_SCORE_VALUE: Final = _ga.GEN_AI_EVALUATION_SCORE_VALUE
GEN_AI_EVALUATION_SCORE_LABEL: Final = _ga.GEN_AI_EVALUATION_SCORE_LABEL
GEN_AI_EVALUATION_EXPLANATION: Final = _ga.GEN_AI_EVALUATION_EXPLANATION

OPENAI_REQUEST_SERVICE_TIER: Final = _oa.OPENAI_REQUEST_SERVICE_TIER
OPENAI_RESPONSE_SERVICE_TIER: Final = _oa.OPENAI_RESPONSE_SERVICE_TIER
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = _oa.OPENAI_RESPONSE_SYSTEM_FINGERPRINT

ERROR_TYPE: Final = _err.ERROR_TYPE
SERVER_ADDRESS: Final = _srv.SERVER_ADDRESS
SERVER_PORT: Final = _srv.SERVER_PORT
HTTP_RESPONSE_STATUS_CODE: Final = _http.HTTP_RESPONSE_STATUS_CODE
SERVICE_NAME: Final = "service.name"
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"

# Schema URL of the telemetry we emit (traces, metrics, events).
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

# ---------------------------------------------------------------------------------------------
# Standard GenAI events (log records with an event name; no constant in the semconv package)
# ---------------------------------------------------------------------------------------------
EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS: Final = "gen_ai.client.inference.operation.details"
# Attribute that carried the event name before LogRecord had ``event_name`` (opentelemetry-api < 1.35).
EVENT_NAME: Final = "event.name"

# Value of error.type when no better low-cardinality name exists.
ERROR_TYPE_OTHER: Final = "_OTHER"

# gen_ai.operation.name values
OP_CHAT: Final = "chat"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_RETRIEVAL: Final = "retrieval"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"

# gen_ai.provider.name values
PROVIDER_OPENAI: Final = "openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_GCP_GEN_AI: Final = "gcp.gen_ai"
PROVIDER_GCP_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_GCP_GEMINI: Final = "gcp.gemini"
PROVIDER_MISTRAL_AI: Final = "mistral_ai"
PROVIDER_GROQ: Final = "groq"
PROVIDER_DEEPSEEK: Final = "deepseek"
PROVIDER_X_AI: Final = "x_ai"
PROVIDER_PERPLEXITY: Final = "perplexity"
PROVIDER_COHERE: Final = "cohere"

# gen_ai.token.type values
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# ---------------------------------------------------------------------------------------------
# Standard GenAI metrics
# ---------------------------------------------------------------------------------------------
METRIC_CLIENT_OPERATION_DURATION: Final = _gm.GEN_AI_CLIENT_OPERATION_DURATION
METRIC_CLIENT_TOKEN_USAGE: Final = _gm.GEN_AI_CLIENT_TOKEN_USAGE
METRIC_CLIENT_TIME_TO_FIRST_CHUNK: Final = _gm.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK

# Advisory bucket boundaries from the semantic conventions.
DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS: Final = tuple(float(4**i) for i in range(14))

# ---------------------------------------------------------------------------------------------
# otel-llm's own names (not in the semantic conventions)
# ---------------------------------------------------------------------------------------------
# Cost of the call in US dollars (double), computed from the price table or a user override.
OTEL_LLM_COST_USD: Final = "otel_llm.cost.usd"
# Where that price came from: "genai-prices <version>" or "override:<source>" (string).
OTEL_LLM_COST_SOURCE: Final = "otel_llm.cost.source"
# True when the token counts were counted locally because the provider reported none (bool).
OTEL_LLM_USAGE_ESTIMATED: Final = "otel_llm.usage.estimated"
# How they were counted: "tiktoken:<encoding>" or "heuristic:chars/4" (string), with "+chunks"
# when the output tokens of a stream cut before its usage chunk were counted one per chunk.
OTEL_LLM_USAGE_ESTIMATE_METHOD: Final = "otel_llm.usage.estimate_method"
# Retrieval step (manual API): ids and scores of the documents returned (string[] / double[]).
OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: Final = "otel_llm.retrieval.document_ids"
OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES: Final = "otel_llm.retrieval.document_scores"
# Retrieval step (manual API): our event (a log record with this event name; the semantic
# conventions define none for retrieval), one per step in the EVENT_ONLY and SPAN_AND_EVENT content
# modes: the step's span attributes plus gen_ai.retrieval.query.text and gen_ai.retrieval.documents.
EVENT_OTEL_LLM_RETRIEVAL_DETAILS: Final = "otel_llm.retrieval.details"
# Tenant of the call, for budgets (string); set through otel_llm.context.
OTEL_LLM_TENANT_ID: Final = "otel_llm.tenant.id"
# Our own self-metric: targets that failed to attach (counter, by target).
METRIC_INSTRUMENTATION_ATTACH_FAILURES: Final = "otel_llm.instrumentation.attach_failures"
# Attribute of that counter: the target that failed, "module:Object.method" (string).
OTEL_LLM_INSTRUMENTATION_TARGET: Final = "otel_llm.instrumentation.target"

# ---------------------------------------------------------------------------------------------
# Processor metrics (ours): derived from LLM spans by otel-llm-processor's llm_metrics connector
# ---------------------------------------------------------------------------------------------
# Besides these, the connector writes the standard METRIC_CLIENT_OPERATION_DURATION,
# METRIC_CLIENT_TOKEN_USAGE and METRIC_CLIENT_TIME_TO_FIRST_CHUNK as exponential histograms.
# LLM calls (monotonic sum, unit {call}).
METRIC_LLM_CALLS: Final = "llm.calls"
# LLM calls that failed, i.e. carried error.type (monotonic sum, unit {call}).
METRIC_LLM_ERRORS: Final = "llm.errors"
# Tokens (monotonic sum, unit {token}) by gen_ai.token.type: input, output, cache_read, cache_creation.
METRIC_LLM_TOKENS: Final = "llm.tokens"
# Cost in US dollars (monotonic sum, unit {USD}): from the span when recorded, else the price table.
METRIC_LLM_COST: Final = "llm.cost.usd"
# gen_ai.token.type values of llm.tokens beyond the standard input/output (ours).
TOKEN_TYPE_CACHE_READ: Final = "cache_read"
TOKEN_TYPE_CACHE_CREATION: Final = "cache_creation"
# Units of the processor metrics.
UNIT_SECONDS: Final = "s"
UNIT_TOKEN: Final = "{token}"
UNIT_CALL: Final = "{call}"
UNIT_USD: Final = "{USD}"
# The OpenTelemetry SDK/Collector convention for the series that absorbs points beyond a
# cardinality limit: its only attribute is otel.metric.overflow=true (bool).
OTEL_METRIC_OVERFLOW: Final = "otel.metric.overflow"

# ---------------------------------------------------------------------------------------------
# Other dialects read by the processor (see specs.md section 4)
# ---------------------------------------------------------------------------------------------
# OpenLLMetry / Traceloop
TRACELOOP_REQUEST_TYPE: Final = "llm.request.type"
TRACELOOP_USAGE_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
TRACELOOP_GEN_AI_USAGE_TOTAL_TOKENS: Final = "gen_ai.usage.total_tokens"
TRACELOOP_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read_input_tokens"
TRACELOOP_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation_input_tokens"
TRACELOOP_REASONING_TOKENS: Final = "llm.usage.reasoning_tokens"
TRACELOOP_GEN_AI_REASONING_TOKENS: Final = "gen_ai.usage.reasoning_tokens"
TRACELOOP_IS_STREAMING: Final = "llm.is_streaming"
TRACELOOP_GEN_AI_IS_STREAMING: Final = "gen_ai.is_streaming"
TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
TRACELOOP_ASSOCIATION_PREFIX: Final = "traceloop.association.properties."
# OpenInference (Arize Phoenix)
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OPENINFERENCE_LLM_PROVIDER: Final = "llm.provider"
OPENINFERENCE_LLM_SYSTEM: Final = "llm.system"
OPENINFERENCE_LLM_MODEL_NAME: Final = "llm.model_name"
OPENINFERENCE_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
OPENINFERENCE_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
OPENINFERENCE_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
OPENINFERENCE_TOKEN_COUNT_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OPENINFERENCE_TOKEN_COUNT_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OPENINFERENCE_TOKEN_COUNT_REASONING: Final = "llm.token_count.completion_details.reasoning"
OPENINFERENCE_COST_TOTAL: Final = "llm.cost.total"
# OpenLIT
OPENLIT_USAGE_COST: Final = "gen_ai.usage.cost"
OPENLIT_REQUEST_IS_STREAM: Final = "gen_ai.request.is_stream"
OPENLIT_SERVER_TTFT: Final = "gen_ai.server.time_to_first_token"
# OpenLIT marks its spans with this span attribute (value "openlit").
OPENLIT_TELEMETRY_SDK_NAME: Final = "telemetry.sdk.name"
# OpenLLMetry (newer) / legacy singular and indexed finish reasons, OpenLLMetry's system fingerprint
TRACELOOP_ASSOCIATION_USER_ID: Final = TRACELOOP_ASSOCIATION_PREFIX + "user_id"
TRACELOOP_ASSOCIATION_SESSION_ID: Final = TRACELOOP_ASSOCIATION_PREFIX + "session_id"
TRACELOOP_COMPLETION_0_FINISH_REASON: Final = "gen_ai.completion.0.finish_reason"
TRACELOOP_RESPONSE_FINISH_REASON: Final = "gen_ai.response.finish_reason"
TRACELOOP_OPENAI_SYSTEM_FINGERPRINT: Final = "gen_ai.openai.system_fingerprint"
TRACELOOP_OPENAI_API_BASE: Final = "gen_ai.openai.api_base"
# OpenInference: more model names, the request parameters (JSON) and the finish reason
OPENINFERENCE_LLM_REQUEST_MODEL_NAME: Final = "llm.request.model_name"
OPENINFERENCE_LLM_RESPONSE_MODEL_NAME: Final = "llm.response.model_name"
OPENINFERENCE_EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
OPENINFERENCE_LLM_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
OPENINFERENCE_EMBEDDING_INVOCATION_PARAMETERS: Final = "embedding.invocation_parameters"
OPENINFERENCE_LLM_FINISH_REASON: Final = "llm.finish_reason"
# Langfuse
LANGFUSE_USER_ID: Final = "langfuse.user.id"
LANGFUSE_SESSION_ID: Final = "langfuse.session.id"

# ---------------------------------------------------------------------------------------------
# Values of other dialects (mapped by the processor's model/dialects.py)
# ---------------------------------------------------------------------------------------------
OPENINFERENCE_KIND_LLM: Final = "LLM"
OPENINFERENCE_KIND_EMBEDDING: Final = "EMBEDDING"
OPENLIT_SDK_NAME_VALUE: Final = "openlit"
# llm.request.type values
TRACELOOP_REQUEST_TYPE_CHAT: Final = "chat"
TRACELOOP_REQUEST_TYPE_COMPLETION: Final = "completion"
TRACELOOP_REQUEST_TYPE_EMBEDDING: Final = "embedding"
TRACELOOP_REQUEST_TYPE_RERANK: Final = "rerank"
# traceloop.span.kind values of non-LLM spans
TRACELOOP_SPAN_KINDS_NOT_LLM: Final = frozenset({"workflow", "task", "agent", "tool"})
# gen_ai.operation.name values that are not model calls (skipped by LlmCall)
OP_CREATE_AGENT: Final = "create_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_RERANK: Final = "rerank"  # OpenLLMetry's llm.request.type, not in the semantic conventions
# Deprecated or foreign provider values -> gen_ai.provider.name values (matched lower-cased)
PROVIDER_AZURE_AI_INFERENCE: Final = "azure.ai.inference"
PROVIDER_ALIASES: Final = {
    "vertex_ai": PROVIDER_GCP_VERTEX_AI,
    "gemini": PROVIDER_GCP_GEMINI,
    "az.ai.inference": PROVIDER_AZURE_AI_INFERENCE,
    "az.ai.openai": PROVIDER_AZURE_OPENAI,
    "xai": PROVIDER_X_AI,
    # OpenInference llm.provider / llm.system
    "aws": PROVIDER_AWS_BEDROCK,
    "google": PROVIDER_GCP_GEN_AI,
    "vertexai": PROVIDER_GCP_VERTEX_AI,
    "mistralai": PROVIDER_MISTRAL_AI,
    "azure": PROVIDER_AZURE_OPENAI,
}
