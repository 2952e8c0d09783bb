// `make lint`: every relative link and heading anchor in every Markdown file resolves (offline).
import remarkValidateLinks from 'remark-validate-links';

export default {
  plugins: [[remarkValidateLinks, { repository: false }]],
};
