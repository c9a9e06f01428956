"""tensorgate as a serverless function (AWS Lambda): docs/serverless.md.

``tensorgate.serverless.handler.handler`` is the entry point the runtime interface
client (``awslambdaric``) calls; ``LambdaFunction`` is the same in-process.
"""
