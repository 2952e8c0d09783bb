// Mocha reporter: the spec reporter's output, plus the run's totals written as JSON to the file
// named by SWITCHBOARD_TEST_SUMMARY so that `make test` can print the CI total line.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.SWITCHBOARD_TEST_SUMMARY;
      if (!file) return;
      const s = runner.stats;
      fs.writeFileSync(file, JSON.stringify({ passes: s.passes, failures: s.failures, pending: s.pending }));
    });
  }
}
module.exports = SummaryReporter;
