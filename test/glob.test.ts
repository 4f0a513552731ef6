import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileNameMatcher } from '../src/matching/glob.js';

/** Asserts which of `values` the pattern matches, listing every mismatch at once. */
function expectMatches(pattern: string, matching: readonly string[], notMatching: readonly string[]): void {
  const matcher = compileNameMatcher(pattern);
  assert.equal(matcher.pattern, pattern);
  assert.deepEqual(
    matching.filter((value) => !matcher.matches(value)),
    [],
    `${pattern} should match these`,
  );
  assert.deepEqual(
    notMatching.filter((value) => matcher.matches(value)),
    [],
    `${pattern} should not match these`,
  );
}

describe('compileNameMatcher', () => {
  it('compares exactly when there is no wildcard, including regex characters', () => {
    expectMatches('/queue/Consumer.jobwire.VirtualTopic.countdown', ['/queue/Consumer.jobwire.VirtualTopic.countdown'], [
      '/queue/Consumer.jobwire.VirtualTopic.countdownx',
      '/queue/Consumer.jobwire.VirtualTopic',
      '/QUEUE/Consumer.jobwire.VirtualTopic.countdown',
    ]);
    expectMatches('a+b(c)?[d]', ['a+b(c)?[d]'], ['aab(c)[d]', 'a+bc[d]']);
    expectMatches('', [''], ['a']);
  });

  it('lets * match within one segment only', () => {
    expectMatches('sh.keptn.event.*.triggered', ['sh.keptn.event.test.triggered', 'sh.keptn.event..triggered'], [
      'sh.keptn.event.a.b.triggered',
      'sh.keptn.event.test.finished',
      'sh.keptn.event/x/y.triggered',
    ]);
    expectMatches('orders/*/created', ['orders/42/created'], ['orders/4/2/created', 'orders/4.2/created']);
    expectMatches('build-*', ['build-', 'build-docs'], ['build-docs.x', 'rebuild-docs']);
    expectMatches('*', ['anything', ''], ['a.b', 'a/b']);
  });

  it('lets ** match across separators', () => {
    expectMatches('sh.keptn.**', ['sh.keptn.event.test.triggered', 'sh.keptn.'], ['sh.keptnx', 'sh.keptn']);
    expectMatches('a/**/z', ['a/b/z', 'a/b/c.d/z'], ['a/z', 'b/a/b/z']);
    expectMatches('**', ['', 'x.y/z'], []);
  });

  it('treats a trailing # or > segment as one or more remaining segments', () => {
    for (const wildcard of ['#', '>']) {
      expectMatches(`orders.${wildcard}`, ['orders.created', 'orders.eu.created'], ['orders', 'orders.', 'ordersx.y']);
      expectMatches(`/topic/${wildcard}`, ['/topic/a', '/topic/a/b'], ['/topic', '/topic/']);
      expectMatches(wildcard, ['a', 'a.b'], ['']);
    }
    expectMatches('*.stock.>', ['eu.stock.nyse', 'us.stock.a.b'], ['eu.x.stock.nyse', 'eu.stock']);
  });

  it('takes # and > literally anywhere else', () => {
    expectMatches('a#b', ['a#b'], ['ab', 'a.b']);
    expectMatches('a.>.b', ['a.>.b'], ['a.x.b']);
    expectMatches('a>', ['a>'], ['ab']);
  });
});
