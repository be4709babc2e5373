import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { checkTopicName } from '../../src/sink/topic.js';

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig({ env, configFile: null });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('the topic-name check', () => {
  it('accepts what Kafka accepts: 1-249 letters, digits, ".", "_" and "-"', () => {
    for (const ok of ['t', 'device-data_topic.v2', 'a'.repeat(249), '...', '_', '-x']) {
      assert.equal(checkTopicName(ok), undefined, ok);
    }
  });

  it('gives the reason for each name Kafka refuses, including "." and ".."', () => {
    assert.match(checkTopicName('') ?? '', /empty/);
    assert.match(checkTopicName('a'.repeat(250)) ?? '', /at most 249 characters \(this one 250\)/);
    assert.match(checkTopicName('.') ?? '', /not allowed/);
    assert.match(checkTopicName('..') ?? '', /not allowed/);
    for (const bad of ['a:b', 'a b', 'ü', 'a/b', 'a*']) assert.match(checkTopicName(bad) ?? '', /only ASCII letters/);
  });

  it('is the check of the configuration: KAFKA_TOPIC and both topic maps reject ".." naming the variable and the reason', () => {
    assert.ok(problems({ KAFKA_TOPIC: '..' }).some((p) => p.startsWith('KAFKA_TOPIC: ') && p.includes('not allowed')));
    assert.ok(
      problems({ STREAM_TARGET_TOPIC_MAP: '{"a*": "."}' }).some(
        (p) => p.startsWith('STREAM_TARGET_TOPIC_MAP: ') && p.includes('"a*"') && p.includes('not allowed'),
      ),
    );
    assert.ok(
      problems({ KEY_TARGET_TOPIC_MAP: '{"k*": "a:b"}' }).some(
        (p) => p.startsWith('KEY_TARGET_TOPIC_MAP: ') && p.includes('only ASCII letters'),
      ),
    );
  });
});
