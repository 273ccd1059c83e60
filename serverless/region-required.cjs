/**
 * The last fallback of `provider.region` in serverless.yml: reached only when
 * neither `--region`, `AWS_REGION` nor `AWS_DEFAULT_REGION` is set, it fails
 * the command with a message that says how to choose the region, instead of
 * deploying to a default region nobody picked.
 *
 * serverless (osls) prints a failing resolver's `stack`; the stack is set to the
 * message alone so the operator reads one sentence, not a trace.
 */
'use strict';

module.exports = () => {
  const message =
    'no AWS region: pass --region REGION, or set AWS_REGION (with a profile: export AWS_REGION=$(aws configure get region --profile "$AWS_PROFILE")). ' +
    'serverless.yml has no default region on purpose.';
  const err = new Error(message);
  err.stack = message;
  throw err;
};
