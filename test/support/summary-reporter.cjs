// Mocha reporter: the spec reporter's output, plus the run's totals and the failed tests (full
// title and first line of the error) written as JSON to the file named by SWITCHBOARD_TEST_SUMMARY,
// so that `make test` can list the failures next to the CI total line.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failed = [];
    runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, (test, err) => {
      const first = String((err && err.message) || err)
        .split('\n')[0]
        .slice(0, 300);
      failed.push(`${test.fullTitle()}: ${first}`);
    });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.SWITCHBOARD_TEST_SUMMARY;
      if (!file) return;
      const s = runner.stats;
      fs.writeFileSync(file, JSON.stringify({ passes: s.passes, failures: s.failures, pending: s.pending, failed }));
    });
  }
}
module.exports = SummaryReporter;
